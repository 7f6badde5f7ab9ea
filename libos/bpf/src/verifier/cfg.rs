//! The structural pre-pass: instruction boundaries, functions, jump
//! targets, loops and the call graph, in a few linear scans that keep only
//! bitmaps and short lists.

use alloc::vec;
use alloc::vec::Vec;

use super::{VerifyError, VerifyErrorKind};
use crate::compile::target;
use crate::decode::decode_at;
use crate::isa::Insn;
use crate::memory::MAX_FRAMES;

/// A fixed-size set of slot indices.
#[derive(Clone, Debug)]
pub(crate) struct BitSet(Vec<u64>);

impl BitSet {
    pub fn new(n: usize) -> BitSet {
        BitSet(vec![0; n.div_ceil(64)])
    }

    pub fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 != 0)
    }
}

/// A loop: a backward jump at `back` to `header`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loop {
    pub header: u32,
    pub back: u32,
}

/// The program's structure.
#[derive(Debug)]
pub(crate) struct Cfg {
    /// Slots.
    pub n: usize,
    /// Second halves of `lddw`.
    pub tails: BitSet,
    /// First slot of each function, ascending; function 0 starts at 0.
    pub funcs: Vec<u32>,
    /// Loops, by ascending header.
    pub loops: Vec<Loop>,
    /// Functions in an order where every caller precedes its callees.
    pub order: Vec<u32>,
}

impl Cfg {
    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.tails.0.capacity() * 8
            + (self.funcs.capacity() + self.order.capacity()) * 4
            + self.loops.capacity() * size_of::<Loop>()
    }
}

/// Where a control transfer at `pc` goes.
pub(crate) enum Flow {
    /// Continues at `pc + 1` (or `pc + 2` after `lddw`).
    Next,
    /// Always jumps to the target.
    Jump(usize),
    /// Jumps to the target or falls through.
    Branch(usize),
    /// Ends the function.
    Exit,
}

pub(crate) fn flow(insn: &Insn, pc: usize, n: usize) -> Result<Flow, VerifyErrorKind> {
    let to = |off: i64| target(pc, off, n).ok_or(VerifyErrorKind::JumpOutOfRange);
    Ok(match *insn {
        Insn::Ja { off } => Flow::Jump(to(off.into())?),
        Insn::JaLong { imm } => Flow::Jump(to(imm.into())?),
        Insn::Jump { off, .. } => Flow::Branch(to(off.into())?),
        Insn::Exit => Flow::Exit,
        _ => Flow::Next,
    })
}

impl Cfg {
    /// Index of the function containing `pc`.
    pub fn func_of(&self, pc: usize) -> usize {
        self.funcs.partition_point(|&s| s as usize <= pc) - 1
    }

    /// Slots `[start, end)` of function `f`.
    pub fn func_range(&self, f: usize) -> (usize, usize) {
        let start = self.funcs[f] as usize;
        let end = self.funcs.get(f + 1).map_or(self.n, |&e| e as usize);
        (start, end)
    }

    /// The loop whose header is `pc`.
    pub fn loop_at(&self, pc: usize) -> Option<Loop> {
        self.loops
            .binary_search_by_key(&(pc as u32), |l| l.header)
            .ok()
            .map(|i| self.loops[i])
    }

    pub fn build(bytes: &[u8], n: usize) -> Result<Cfg, VerifyError> {
        let err = |index: usize, kind| VerifyError { index, kind };
        let mut tails = BitSet::new(n + 1);
        let mut funcs = vec![0u32];
        // Pass 1: boundaries and functions.
        let mut pc = 0;
        while pc < n {
            let insn =
                decode_at(bytes, pc).map_err(|e| err(e.index, VerifyErrorKind::Decode(e.kind)))?;
            if insn.slots() == 2 {
                tails.insert(pc + 1);
            }
            if let Insn::CallLocal { offset } = insn {
                let t =
                    target(pc, offset.into(), n).ok_or(err(pc, VerifyErrorKind::JumpOutOfRange))?;
                funcs.push(t as u32);
            }
            pc += insn.slots();
        }
        funcs.sort_unstable();
        funcs.dedup();
        let mut cfg = Cfg {
            n,
            tails,
            funcs,
            loops: Vec::new(),
            order: Vec::new(),
        };
        // Pass 2: targets, fall-through off a function's end, loops, calls.
        let mut calls: Vec<(u32, u32, u32)> = Vec::new();
        let mut pc = 0;
        while pc < n {
            let insn =
                decode_at(bytes, pc).map_err(|e| err(e.index, VerifyErrorKind::Decode(e.kind)))?;
            let next = pc + insn.slots();
            let f = cfg.func_of(pc);
            let (_, end) = cfg.func_range(f);
            let flow = flow(&insn, pc, n).map_err(|k| err(pc, k))?;
            let falls = matches!(flow, Flow::Next | Flow::Branch(_));
            if falls && next >= end {
                return Err(err(pc, VerifyErrorKind::FallsOffEnd));
            }
            if let Flow::Jump(t) | Flow::Branch(t) = flow {
                if cfg.tails.contains(t) {
                    return Err(err(pc, VerifyErrorKind::JumpIntoLddw));
                }
                if cfg.func_of(t) != f {
                    return Err(err(pc, VerifyErrorKind::JumpAcrossFunctions));
                }
                if t <= pc {
                    if cfg.loops.iter().any(|l| l.header as usize == t) {
                        return Err(err(
                            pc,
                            VerifyErrorKind::UnboundedLoop(LoopReason::SecondBackEdge),
                        ));
                    }
                    cfg.loops.push(Loop {
                        header: t as u32,
                        back: pc as u32,
                    });
                }
            }
            if let Insn::CallLocal { offset } = insn {
                let t =
                    target(pc, offset.into(), n).ok_or(err(pc, VerifyErrorKind::JumpOutOfRange))?;
                if cfg.tails.contains(t) {
                    return Err(err(pc, VerifyErrorKind::JumpIntoLddw));
                }
                calls.push((f as u32, cfg.func_of(t) as u32, pc as u32));
            }
            pc = next;
        }
        cfg.loops.sort_unstable_by_key(|l| l.header);
        cfg.check_loop_entries(bytes)?;
        cfg.order = call_order(&cfg.funcs, &calls)?;
        Ok(cfg)
    }

    /// Every loop must be entered only through its header: no jump from
    /// outside `[header, back]` may land inside `(header, back]`. This also
    /// makes loops nest properly.
    fn check_loop_entries(&self, bytes: &[u8]) -> Result<(), VerifyError> {
        if self.loops.is_empty() {
            return Ok(());
        }
        let mut pc = 0;
        while pc < self.n {
            let insn = decode_at(bytes, pc).map_err(|e| VerifyError {
                index: e.index,
                kind: VerifyErrorKind::Decode(e.kind),
            })?;
            if let Ok(Flow::Jump(t) | Flow::Branch(t)) = flow(&insn, pc, self.n) {
                for l in &self.loops {
                    let (h, b) = (l.header as usize, l.back as usize);
                    let inside = h < t && t <= b;
                    let from_outside = pc < h || pc > b;
                    if inside && from_outside {
                        return Err(VerifyError {
                            index: pc,
                            kind: VerifyErrorKind::UnboundedLoop(LoopReason::JumpIntoBody),
                        });
                    }
                }
            }
            pc += insn.slots();
        }
        Ok(())
    }
}

/// Why a loop was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopReason {
    /// The backward jump is unconditional.
    UnconditionalBackEdge,
    /// Two backward jumps share a header.
    SecondBackEdge,
    /// A jump from outside the loop lands inside its body.
    JumpIntoBody,
    /// No operand of the backward jump is a counter written exactly once
    /// in the body by adding or subtracting a non-zero constant.
    NoCounter,
    /// The counter's update can be skipped on a path through the body, or
    /// sits in an inner loop.
    UpdateSkippable,
    /// The other operand of the backward jump is not a constant that the
    /// loop leaves alone.
    NoConstantBound,
    /// The counter is not a known constant on entry.
    NoConstantStart,
    /// The counter, stepping as it does, may never make the condition
    /// false without overflowing.
    NeverExits,
}

impl core::fmt::Display for LoopReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            LoopReason::UnconditionalBackEdge => "backward jump is unconditional",
            LoopReason::SecondBackEdge => "loop header has a second backward jump",
            LoopReason::JumpIntoBody => "jump into a loop body",
            LoopReason::NoCounter => "no counter updated once by a constant step",
            LoopReason::UpdateSkippable => "counter update can be skipped",
            LoopReason::NoConstantBound => "loop bound is not a constant",
            LoopReason::NoConstantStart => "counter has no constant start value",
            LoopReason::NeverExits => "counter may never reach the bound",
        })
    }
}

/// Orders functions callers-first (a reverse post-order of the call graph
/// from function 0), refusing recursion, calls deeper than [`MAX_FRAMES`]
/// and functions nothing calls.
fn call_order(funcs: &[u32], calls: &[(u32, u32, u32)]) -> Result<Vec<u32>, VerifyError> {
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let mut color = vec![WHITE; funcs.len()];
    let mut post = Vec::with_capacity(funcs.len());
    // Explicit DFS stack of (function, next call index, depth).
    let mut stack: Vec<(u32, usize, usize)> = vec![(0, 0, 1)];
    color[0] = GREY;
    while let Some(top) = stack.last_mut() {
        let (f, i, depth) = *top;
        if let Some(&(_, callee, pc)) = calls.iter().filter(|c| c.0 == f).nth(i) {
            top.1 += 1;
            match color[callee as usize] {
                GREY => {
                    return Err(VerifyError {
                        index: pc as usize,
                        kind: VerifyErrorKind::RecursiveCall,
                    });
                }
                WHITE | BLACK => {
                    if depth + 1 > MAX_FRAMES {
                        return Err(VerifyError {
                            index: pc as usize,
                            kind: VerifyErrorKind::CallTooDeep,
                        });
                    }
                    // Revisit finished callees too, to measure depth along
                    // every path (call graphs here are tiny).
                    if color[callee as usize] == WHITE {
                        color[callee as usize] = GREY;
                        stack.push((callee, 0, depth + 1));
                    } else {
                        stack.push((callee, 0, depth + 1));
                        color[callee as usize] = GREY;
                    }
                }
                _ => {}
            }
        } else {
            stack.pop();
            color[f as usize] = BLACK;
            if !post.contains(&f) {
                post.push(f);
            }
        }
    }
    if let Some(f) = color.iter().position(|&c| c == WHITE) {
        return Err(VerifyError {
            index: funcs[f] as usize,
            kind: VerifyErrorKind::Unreachable,
        });
    }
    post.reverse();
    Ok(post)
}
