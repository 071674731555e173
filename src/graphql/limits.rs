//! Limits that keep one query from exhausting the server: depth, complexity, directives, and the
//! number of aliases (async-graphql 7 has no alias limit, so [`check_aliases`] counts them).

use async_graphql::parser::types::{DocumentOperations, Selection, SelectionSet};
use async_graphql::{Request, ServerError};

pub const MAX_DEPTH: usize = 10;
pub const MAX_COMPLEXITY: usize = 5_000;
pub const MAX_DIRECTIVES: usize = 16;
pub const MAX_RECURSIVE_DEPTH: usize = 32;
pub const MAX_ALIASES: usize = 30;

/// Refuses a query with more than [`MAX_ALIASES`] aliases (async-graphql 7 has no such limit).
/// Parses the query into the request, where the schema finds it already parsed.
pub fn check_aliases(request: &mut Request) -> Result<(), ServerError> {
    let document = request.parsed_query()?;
    let operations: Vec<&SelectionSet> = match &document.operations {
        DocumentOperations::Single(op) => vec![&op.node.selection_set.node],
        DocumentOperations::Multiple(ops) => ops.values().map(|op| &op.node.selection_set.node).collect(),
    };
    let aliases: usize = operations
        .into_iter()
        .chain(document.fragments.values().map(|f| &f.node.selection_set.node))
        .map(count_aliases)
        .sum();
    if aliases > MAX_ALIASES {
        return Err(ServerError::new(
            format!("the query uses {aliases} aliases; at most {MAX_ALIASES} are allowed"),
            None,
        ));
    }
    Ok(())
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
