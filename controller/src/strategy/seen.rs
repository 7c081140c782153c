//! The children a strategy without a policy has trained or has in flight,
//! so that it never proposes one twice: local search and the predictor
//! keep the children in flight (`pending`) in their checkpoints and rebuild
//! this set from them and from the children observed.

use std::collections::HashSet;

use nas_domain::Actions;

/// A child as a strategy remembers it: its depth and tokens.
pub(crate) type Key = (usize, Vec<u16>);

/// The key of `actions` at `depth`.
pub(crate) fn key(depth: usize, actions: &Actions) -> Key {
    (depth, actions.tokens().to_vec())
}

/// Every child trained or in flight.
#[derive(Default)]
pub(crate) struct Seen(HashSet<Key>);

impl Seen {
    /// The children observed and those in flight.
    pub fn of<'a>(
        observed: impl Iterator<Item = (usize, &'a Actions)>,
        pending: &[(usize, Actions)],
    ) -> Self {
        let mut set: HashSet<Key> = observed.map(|(depth, actions)| key(depth, actions)).collect();
        set.extend(pending.iter().map(|(depth, actions)| key(*depth, actions)));
        Seen(set)
    }

    /// Whether `tokens` at `depth` was trained or is in flight.
    pub fn contains(&self, depth: usize, tokens: &[u16]) -> bool {
        self.0.contains(&(depth, tokens.to_vec()))
    }

    /// A child proposed: seen, and in flight.
    pub fn proposed(&mut self, pending: &mut Vec<(usize, Actions)>, depth: usize, actions: &Actions) {
        self.0.insert(key(depth, actions));
        pending.push((depth, actions.clone()));
    }

    /// A child observed: seen, and no longer in flight.
    pub fn observed(&mut self, pending: &mut Vec<(usize, Actions)>, depth: usize, actions: &Actions) {
        let observed = key(depth, actions);
        if let Some(at) = pending
            .iter()
            .position(|(depth, actions)| key(*depth, actions) == observed)
        {
            pending.remove(at);
        }
        self.0.insert(observed);
    }

    /// Children in flight after a resume (see
    /// [`super::Strategy::in_flight`]): those not seen yet are added.
    pub fn in_flight(&mut self, pending: &mut Vec<(usize, Actions)>, children: &[(Actions, usize)]) {
        for (actions, depth) in children {
            if self.0.insert(key(*depth, actions)) {
                pending.push((*depth, actions.clone()));
            }
        }
    }
}
