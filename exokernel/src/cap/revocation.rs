//! The derivation forest: who was derived from whom, and the subtree walk
//! that revocation uses.
//!
//! Every live slot of every environment is a node; a capability created
//! from the root authority is a tree root, and each derivation or transfer
//! links the child under its parent (children may live in other
//! environments' tables). Links are intrusive (`parent`, `first_child`,
//! `next`/`prev` sibling), so linking, unlinking and walking a subtree need
//! no allocation, and revoking `n` descendants is O(n). The forest also
//! keeps each environment's free-slot stack.
//!
//! The whole structure is only touched under the capability space's tree
//! lock, which serialises create/derive/transfer/revoke; verification never
//! looks at it.

use alloc::vec::Vec;

use super::error::CapError;

/// "No node" link value.
const NIL: u32 = u32::MAX;

/// Intrusive links of one node.
#[derive(Clone, Copy)]
struct Node {
    parent: u32,
    first_child: u32,
    next: u32,
    prev: u32,
}

impl Node {
    const DETACHED: Self = Self {
        parent: NIL,
        first_child: NIL,
        next: NIL,
        prev: NIL,
    };
}

/// The derivation forest plus per-environment free lists.
pub(crate) struct Forest {
    nodes: Vec<Node>,
    slots_per_env: u32,
    /// Per environment: a stack of free slot indices, pre-allocated to the
    /// table capacity so pushes never allocate.
    free: Vec<Vec<u32>>,
}

impl Forest {
    /// A forest of `max_envs × slots_per_env` detached, free nodes.
    ///
    /// # Errors
    /// [`CapError::InvalidConfig`] if the total does not fit a node id or
    /// allocation fails.
    pub(crate) fn new(max_envs: u32, slots_per_env: u32) -> Result<Self, CapError> {
        let total = u64::from(max_envs) * u64::from(slots_per_env);
        if max_envs == 0 || slots_per_env == 0 || total >= u64::from(NIL) {
            return Err(CapError::InvalidConfig);
        }
        let total = usize::try_from(total).map_err(|_| CapError::InvalidConfig)?;
        let per_env = usize::try_from(slots_per_env).map_err(|_| CapError::InvalidConfig)?;
        let mut nodes = Vec::new();
        nodes
            .try_reserve_exact(total)
            .map_err(|_| CapError::InvalidConfig)?;
        nodes.resize(total, Node::DETACHED);
        let mut free = Vec::new();
        free.try_reserve_exact(max_envs as usize)
            .map_err(|_| CapError::InvalidConfig)?;
        for _ in 0..max_envs {
            let mut stack = Vec::new();
            stack
                .try_reserve_exact(per_env)
                .map_err(|_| CapError::InvalidConfig)?;
            // Reverse order so allocation hands out 0, 1, 2, …
            stack.extend((0..slots_per_env).rev());
            free.push(stack);
        }
        Ok(Self {
            nodes,
            slots_per_env,
            free,
        })
    }

    /// The node id of slot `index` in environment `env`.
    pub(crate) fn id(&self, env: u32, index: u32) -> u32 {
        env * self.slots_per_env + index
    }

    /// The `(env, index)` of node `id`.
    pub(crate) fn split(&self, id: u32) -> (u32, u32) {
        (id / self.slots_per_env, id % self.slots_per_env)
    }

    /// Takes a free slot index of `env`, if any.
    pub(crate) fn alloc(&mut self, env: u32) -> Option<u32> {
        self.free.get_mut(env as usize)?.pop()
    }

    /// Returns slot `index` of `env` to its free list.
    pub(crate) fn release(&mut self, env: u32, index: u32) {
        if let Some(stack) = self.free.get_mut(env as usize) {
            stack.push(index);
        }
    }

    /// Number of allocated (live) slots of `env`.
    pub(crate) fn live(&self, env: u32) -> usize {
        self.free
            .get(env as usize)
            .map_or(0, |stack| self.slots_per_env as usize - stack.len())
    }

    fn node(&self, id: u32) -> Node {
        self.nodes
            .get(id as usize)
            .copied()
            .unwrap_or(Node::DETACHED)
    }

    fn node_mut(&mut self, id: u32) -> Option<&mut Node> {
        self.nodes.get_mut(id as usize)
    }

    /// Links freshly allocated node `child` as the first child of `parent`
    /// (or as a root when `parent` is `None`).
    pub(crate) fn link(&mut self, parent: Option<u32>, child: u32) {
        let parent = parent.unwrap_or(NIL);
        let old_first = if parent == NIL {
            NIL
        } else {
            self.node(parent).first_child
        };
        if let Some(node) = self.node_mut(child) {
            *node = Node {
                parent,
                first_child: NIL,
                next: old_first,
                prev: NIL,
            };
        }
        if let Some(sibling) = self.node_mut(old_first) {
            sibling.prev = child;
        }
        if let Some(p) = self.node_mut(parent) {
            p.first_child = child;
        }
    }

    /// Detaches node `id` (with its subtree) from its parent and siblings.
    fn unlink(&mut self, id: u32) {
        let Node {
            parent, next, prev, ..
        } = self.node(id);
        if let Some(n) = self.node_mut(next) {
            n.prev = prev;
        }
        if let Some(p) = self.node_mut(prev) {
            p.next = next;
        } else if let Some(p) = self.node_mut(parent) {
            p.first_child = next;
        }
        if let Some(node) = self.node_mut(id) {
            *node = Node::DETACHED;
        }
    }

    /// Removes node `id` alone: its children move up to its parent (or
    /// become roots) and `id` is detached.
    /// O(children). Every descendant stays a descendant of every ancestor
    /// `id` had, so revoking any of them still reaches it.
    pub(crate) fn splice_out(&mut self, id: u32) {
        let parent = self.node(id).parent;
        let mut child = self.node(id).first_child;
        while child != NIL {
            let next = self.node(child).next;
            if let Some(node) = self.node_mut(child) {
                node.parent = NIL;
                node.next = NIL;
                node.prev = NIL;
            }
            // With no parent the child becomes a root (roots keep no
            // sibling list).
            if parent != NIL {
                self.link_existing(parent, child);
            }
            child = next;
        }
        if let Some(node) = self.node_mut(id) {
            node.first_child = NIL;
        }
        self.unlink(id);
    }

    /// Links the detached node `child` (which may have children of its own)
    /// as the first child of `parent`.
    fn link_existing(&mut self, parent: u32, child: u32) {
        let old_first = self.node(parent).first_child;
        if let Some(node) = self.node_mut(child) {
            node.parent = parent;
            node.next = old_first;
            node.prev = NIL;
        }
        if let Some(sibling) = self.node_mut(old_first) {
            sibling.prev = child;
        }
        if let Some(p) = self.node_mut(parent) {
            p.first_child = child;
        }
    }

    /// Revokes the subtree rooted at `root`: calls `kill(env, index)` on
    /// every node in pre-order (root first), frees the slots for which it
    /// returns `true`, and detaches the subtree. Returns the node count.
    ///
    /// The walk follows the intact links (freeing only touches the free
    /// stacks) and climbs back with parent links, so it needs no stack and
    /// no allocation. The caller holds the tree lock, so nothing can be
    /// linked under a node of the subtree while it runs.
    pub(crate) fn revoke_subtree(
        &mut self,
        root: u32,
        mut kill: impl FnMut(u32, u32) -> bool,
    ) -> usize {
        let mut count = 0;
        let mut id = root;
        'walk: loop {
            let (env, index) = self.split(id);
            if kill(env, index) {
                self.release(env, index);
            }
            count += 1;
            let node = self.node(id);
            if node.first_child != NIL {
                id = node.first_child;
                continue;
            }
            // No children: move to the next sibling, climbing as needed.
            loop {
                if id == root {
                    break 'walk;
                }
                let node = self.node(id);
                if node.next != NIL {
                    id = node.next;
                    continue 'walk;
                }
                id = node.parent;
                if id == NIL {
                    // Unreachable for a well-formed forest; stop rather than loop.
                    break 'walk;
                }
            }
        }
        self.unlink(root);
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn subtree_walk_visits_exactly_the_descendants() {
        let mut f = Forest::new(2, 16).unwrap();
        // 0 ─┬─ 1 ─┬─ 3
        //    │     └─ 4 ── 6 (in env 1)
        //    └─ 2 ── 5
        // 7 (separate root)
        let ids: Vec<u32> = (0..8).map(|_| f.alloc(0).unwrap()).collect();
        assert_eq!(ids, (0..8).collect::<Vec<_>>());
        let remote = f.alloc(1).unwrap();
        let remote = f.id(1, remote);
        f.link(None, 0);
        f.link(Some(0), 1);
        f.link(Some(0), 2);
        f.link(Some(1), 3);
        f.link(Some(1), 4);
        f.link(Some(2), 5);
        f.link(Some(4), remote);
        f.link(None, 7);
        assert_eq!(f.live(0), 8);

        let mut seen = vec![];
        let n = f.revoke_subtree(1, |e, i| {
            seen.push((e, i));
            true
        });
        seen.sort_unstable();
        assert_eq!(n, 4);
        assert_eq!(seen, vec![(0, 1), (0, 3), (0, 4), (1, 0)]);
        assert_eq!(f.live(0), 5);
        assert_eq!(f.live(1), 0);

        // 1 is detached: revoking 0 now reaches 0, 2, 5 only.
        let mut seen = vec![];
        assert_eq!(
            f.revoke_subtree(0, |e, i| {
                seen.push((e, i));
                true
            }),
            3
        );
        seen.sort_unstable();
        assert_eq!(seen, vec![(0, 0), (0, 2), (0, 5)]);
        // The separate root and the never-linked slot 6 stay allocated.
        assert_eq!(f.live(0), 2);
        let mut seen = vec![];
        assert_eq!(
            f.revoke_subtree(7, |e, i| {
                seen.push((e, i));
                false
            }),
            1
        );
        assert_eq!(seen, vec![(0, 7)]);
        // `false` (retired) keeps the slot off the free list.
        assert_eq!(f.live(0), 2);
    }

    #[test]
    fn unlink_middle_sibling_keeps_others() {
        let mut f = Forest::new(1, 8).unwrap();
        for _ in 0..4 {
            f.alloc(0).unwrap();
        }
        f.link(None, 0);
        f.link(Some(0), 1);
        f.link(Some(0), 2);
        f.link(Some(0), 3); // children order: 3, 2, 1
        assert_eq!(f.revoke_subtree(2, |_, _| true), 1);
        let mut seen = vec![];
        f.revoke_subtree(0, |e, i| {
            seen.push((e, i));
            true
        });
        seen.sort_unstable();
        assert_eq!(seen, vec![(0, 0), (0, 1), (0, 3)]);
        assert_eq!(f.live(0), 0);
    }

    #[test]
    fn exhaustion_and_bad_config() {
        let mut f = Forest::new(1, 2).unwrap();
        assert!(f.alloc(0).is_some());
        assert!(f.alloc(0).is_some());
        assert!(f.alloc(0).is_none());
        assert!(f.alloc(5).is_none());
        assert!(Forest::new(0, 4).is_err());
        assert!(Forest::new(4, 0).is_err());
        assert!(Forest::new(u32::MAX, u32::MAX).is_err());
    }

    #[test]
    fn splice_out_moves_children_to_the_grandparent() {
        let mut f = Forest::new(1, 8).unwrap();
        for _ in 0..6 {
            f.alloc(0).unwrap();
        }
        // 0 ── 1 ─┬─ 2 ── 4
        //         └─ 3
        // 5 ── (nothing)
        f.link(None, 0);
        f.link(Some(0), 1);
        f.link(Some(1), 2);
        f.link(Some(1), 3);
        f.link(Some(2), 4);
        f.link(None, 5);
        f.splice_out(1);
        f.release(0, 1);
        // Revoking 0 still reaches 2, 3 and 4, but not 1.
        let mut seen = vec![];
        assert_eq!(
            f.revoke_subtree(0, |e, i| {
                seen.push((e, i));
                true
            }),
            4
        );
        seen.sort_unstable();
        assert_eq!(seen, vec![(0, 0), (0, 2), (0, 3), (0, 4)]);
        // A root's children become roots.
        f.link(Some(5), 2);
        f.splice_out(5);
        assert_eq!(f.revoke_subtree(2, |_, _| true), 1);
    }
}
