//! Ordering between apps: `after` must form no cycle.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::manifest::app_name::AppName;

/// Returns the span of the edge that closes a cycle and the cycle's names.
pub fn find_cycle(edges: &[super::Edge]) -> Option<(Range<usize>, Vec<String>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    let mut adj: BTreeMap<&AppName, Vec<(&AppName, &Range<usize>)>> = BTreeMap::new();
    for (from, to, span) in edges {
        adj.entry(from).or_default().push((to, span));
    }
    let mut marks: BTreeMap<&AppName, Mark> = BTreeMap::new();
    // Iterative DFS keeps deep chains (thousands of apps) off the call stack.
    for &start in adj.keys() {
        if marks.contains_key(start) {
            continue;
        }
        let mut stack: Vec<(&AppName, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::Active);
        while let Some(&mut (node, ref mut i)) = stack.last_mut() {
            let next = adj.get(node).and_then(|v| v.get(*i)).copied();
            *i += 1;
            match next {
                None => {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                }
                Some((to, span)) => match marks.get(to) {
                    Some(Mark::Active) => {
                        let pos = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[pos..].iter().map(|(n, _)| n.to_string()).collect();
                        cycle.push(to.to_string());
                        return Some((span.clone(), cycle));
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(to, Mark::Active);
                        stack.push((to, 0));
                    }
                },
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> AppName {
        AppName::parse(s).expect("valid")
    }

    #[test]
    fn finds_a_cycle_and_names_it() {
        let edges = vec![
            (n("a"), n("b"), 1..2),
            (n("b"), n("c"), 3..4),
            (n("c"), n("a"), 5..6),
        ];
        let (span, cycle) = find_cycle(&edges).expect("cycle");
        assert_eq!(span, 5..6);
        assert_eq!(cycle, ["a", "b", "c", "a"]);
    }

    #[test]
    fn a_diamond_is_no_cycle() {
        let edges = vec![
            (n("a"), n("b"), 0..1),
            (n("a"), n("c"), 0..1),
            (n("b"), n("d"), 0..1),
            (n("c"), n("d"), 0..1),
        ];
        assert!(find_cycle(&edges).is_none());
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let names: Vec<AppName> = (0..20000).map(|i| n(&format!("a{i}"))).collect();
        let edges: Vec<_> = names
            .windows(2)
            .map(|w| (w[0].clone(), w[1].clone(), 0..1))
            .collect();
        assert!(find_cycle(&edges).is_none());
    }
}
