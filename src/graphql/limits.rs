//! Limits that keep one query from exhausting the server: depth, complexity, directives, and the
//! number of aliases (async-graphql 7 has no alias limit, so an extension counts them).

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};
use std::sync::Arc;

pub const MAX_DEPTH: usize = 10;
pub const MAX_COMPLEXITY: usize = 5_000;
pub const MAX_DIRECTIVES: usize = 16;
pub const MAX_RECURSIVE_DEPTH: usize = 32;
pub const MAX_ALIASES: usize = 30;

pub struct AliasLimit;

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimit)
    }
}

#[async_trait::async_trait]
impl Extension for AliasLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut aliases = 0;
        let operations: Vec<&SelectionSet> = match &document.operations {
            DocumentOperations::Single(op) => vec![&op.node.selection_set.node],
            DocumentOperations::Multiple(ops) => ops.values().map(|op| &op.node.selection_set.node).collect(),
        };
        for set in operations.into_iter().chain(document.fragments.values().map(|f| &f.node.selection_set.node)) {
            aliases += count_aliases(set);
        }
        if aliases > MAX_ALIASES {
            return Err(ServerError::new(
                format!("the query uses {aliases} aliases; at most {MAX_ALIASES} are allowed"),
                None,
            ));
        }
        Ok(document)
    }
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}
