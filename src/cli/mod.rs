//! The commands behind `outdial`: each a thin shell over the library.

pub mod dnc;
pub mod import;
pub mod serve;
pub mod token;

use outdial::config::Config;
use outdial::store::Store;

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    serve::init_tracing(&config.log);
    let store = Store::connect(config).await?;
    store.migrate().await?;
    store.close().await;
    println!("migrations applied");
    Ok(())
}
