//! Who votes, and what a quorum is: a strict majority of the voting members (Apache's
//! `QuorumMaj`). Membership is static, identical on every member (no reconfiguration).

use std::collections::BTreeSet;

use super::message::Sid;

/// The voting members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voters {
    sids: Vec<Sid>,
}

impl Voters {
    /// The voters with these ids (duplicates are ignored).
    pub fn new(sids: impl IntoIterator<Item = Sid>) -> Self {
        let set: BTreeSet<Sid> = sids.into_iter().collect();
        Self {
            sids: set.into_iter().collect(),
        }
    }

    /// Whether `sid` votes.
    pub fn contains(&self, sid: Sid) -> bool {
        self.sids.binary_search(&sid).is_ok()
    }

    /// Every voter, ascending.
    pub fn iter(&self) -> impl Iterator<Item = &Sid> {
        self.sids.iter()
    }

    /// Number of voters.
    pub fn len(&self) -> usize {
        self.sids.len()
    }

    /// Whether there is no voter (never, for a valid configuration).
    pub fn is_empty(&self) -> bool {
        self.sids.is_empty()
    }

    /// How many voters make a quorum: more than half.
    pub fn quorum_size(&self) -> usize {
        self.sids.len() / 2 + 1
    }

    /// Whether these members (non-voters and duplicates ignored) are a quorum.
    pub fn is_quorum(&self, members: impl IntoIterator<Item = Sid>) -> bool {
        let voting: BTreeSet<Sid> = members.into_iter().filter(|s| self.contains(*s)).collect();
        voting.len() >= self.quorum_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quorum_is_a_strict_majority_of_voters() {
        let three = Voters::new([1, 2, 3]);
        assert!(!three.is_quorum([1]));
        assert!(three.is_quorum([1, 3]));
        assert!(
            !three.is_quorum([1, 1, 9]),
            "duplicates and strangers do not count"
        );
        let four = Voters::new([1, 2, 3, 4]);
        assert!(!four.is_quorum([1, 2]));
        assert!(four.is_quorum([1, 2, 4]));
        assert!(Voters::new([7]).is_quorum([7]));
    }
}
