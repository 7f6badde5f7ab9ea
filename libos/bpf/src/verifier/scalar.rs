//! What the verifier knows about a 64-bit value: known bits and bounds.
//!
//! A [`Tnum`] ("tristate number", as in Linux) records, bit by bit, whether
//! the bit is known 0, known 1 or unknown. A [`Scalar`] adds unsigned and
//! signed minimum and maximum. The two views refine each other after every
//! operation ([`Scalar::sync`]); an empty result means the path is
//! impossible, which is how branch refinement finds dead branches.

use crate::isa::{AluOp, JmpCond, Width};
use crate::semantics;

const SIGN: u64 = 1 << 63;

/// Known bits: bit `i` is unknown if `mask` has it, else equal to `value`'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tnum {
    pub value: u64,
    pub mask: u64,
}

impl Tnum {
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    pub const fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// The tightest tnum holding every value in `[min, max]`.
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum {
            value: min & !delta,
            mask: delta,
        }
    }

    pub fn is_const(self) -> bool {
        self.mask == 0
    }

    pub fn add(self, o: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(o.mask);
        let sv = self.value.wrapping_add(o.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | o.mask;
        Tnum {
            value: sv & !mu,
            mask: mu,
        }
    }

    pub fn sub(self, o: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(o.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(o.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | o.mask;
        Tnum {
            value: dv & !mu,
            mask: mu,
        }
    }

    pub fn and(self, o: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = o.value | o.mask;
        let v = self.value & o.value;
        Tnum {
            value: v,
            mask: alpha & beta & !v,
        }
    }

    pub fn or(self, o: Tnum) -> Tnum {
        let v = self.value | o.value;
        let mu = self.mask | o.mask;
        Tnum {
            value: v,
            mask: mu & !v,
        }
    }

    pub fn xor(self, o: Tnum) -> Tnum {
        let v = self.value ^ o.value;
        let mu = self.mask | o.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    pub fn lsh(self, k: u32) -> Tnum {
        Tnum {
            value: self.value << k,
            mask: self.mask << k,
        }
    }

    pub fn rsh(self, k: u32) -> Tnum {
        Tnum {
            value: self.value >> k,
            mask: self.mask >> k,
        }
    }

    pub fn arsh(self, k: u32) -> Tnum {
        Tnum {
            value: ((self.value as i64) >> k) as u64,
            mask: ((self.mask as i64) >> k) as u64,
        }
    }

    /// Long multiplication over known and unknown bits (Linux's `tnum_mul`).
    pub fn mul(self, o: Tnum) -> Tnum {
        let acc_v = self.value.wrapping_mul(o.value);
        let mut acc_m = Tnum::constant(0);
        let (mut a, mut b) = (self, o);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc_m = acc_m.add(Tnum {
                    value: 0,
                    mask: b.mask,
                });
            } else if a.mask & 1 != 0 {
                acc_m = acc_m.add(Tnum {
                    value: 0,
                    mask: b.value | b.mask,
                });
            }
            a = a.rsh(1);
            b = b.lsh(1);
        }
        Tnum::constant(acc_v).add(acc_m)
    }

    /// Every value either may hold.
    pub fn union(self, o: Tnum) -> Tnum {
        let mu = self.mask | o.mask | (self.value ^ o.value);
        Tnum {
            value: self.value & !mu,
            mask: mu,
        }
    }

    /// Values both may hold; `None` if none.
    pub fn intersect(self, o: Tnum) -> Option<Tnum> {
        let known_both = !self.mask & !o.mask;
        if (self.value ^ o.value) & known_both != 0 {
            return None;
        }
        let mu = self.mask & o.mask;
        Some(Tnum {
            value: (self.value | o.value) & !mu,
            mask: mu,
        })
    }

    /// Whether every value `o` may hold, `self` may hold too.
    pub fn contains(self, o: Tnum) -> bool {
        o.mask & !self.mask == 0 && o.value & !self.mask == self.value
    }

    /// The low 32 bits, zero-extended.
    pub fn low32(self) -> Tnum {
        Tnum {
            value: self.value & 0xffff_ffff,
            mask: self.mask & 0xffff_ffff,
        }
    }

    fn umin(self) -> u64 {
        self.value
    }

    fn umax(self) -> u64 {
        self.value | self.mask
    }

    fn smin(self) -> i64 {
        (self.value | (self.mask & SIGN)) as i64
    }

    fn smax(self) -> i64 {
        (self.value | (self.mask & !SIGN)) as i64
    }
}

/// A 64-bit value: known bits plus unsigned and signed bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scalar {
    pub umin: u64,
    pub umax: u64,
    pub smin: i64,
    pub smax: i64,
    pub tn: Tnum,
}

impl Scalar {
    pub const UNKNOWN: Scalar = Scalar {
        umin: 0,
        umax: u64::MAX,
        smin: i64::MIN,
        smax: i64::MAX,
        tn: Tnum::UNKNOWN,
    };

    pub const fn constant(v: u64) -> Scalar {
        Scalar {
            umin: v,
            umax: v,
            smin: v as i64,
            smax: v as i64,
            tn: Tnum::constant(v),
        }
    }

    /// Any value in `[min, max]` (unsigned).
    pub fn unsigned(min: u64, max: u64) -> Scalar {
        let mut s = Scalar {
            umin: min,
            umax: max,
            ..Scalar::UNKNOWN
        };
        s.sync();
        s
    }

    /// Any value in `[min, max]` (signed).
    pub fn signed(min: i64, max: i64) -> Scalar {
        let mut s = Scalar {
            smin: min,
            smax: max,
            ..Scalar::UNKNOWN
        };
        s.sync();
        s
    }

    /// Any value of `bits` bits, zero-extended.
    pub fn bits(bits: u32) -> Scalar {
        if bits >= 64 {
            Scalar::UNKNOWN
        } else {
            Scalar::unsigned(0, (1u64 << bits) - 1)
        }
    }

    pub fn as_const(&self) -> Option<u64> {
        self.tn.is_const().then_some(self.tn.value)
    }

    /// Makes the bounds and bits agree; `false` if no value fits them.
    pub fn sync(&mut self) -> bool {
        for _ in 0..2 {
            self.umin = self.umin.max(self.tn.umin());
            self.umax = self.umax.min(self.tn.umax());
            self.smin = self.smin.max(self.tn.smin());
            self.smax = self.smax.min(self.tn.smax());
            // Where a range does not cross the sign boundary, the signed
            // and unsigned orders agree.
            if self.smin >= 0 || self.smax < 0 {
                self.umin = self.umin.max(self.smin as u64);
                self.umax = self.umax.min(self.smax as u64);
            }
            if (self.umin ^ self.umax) & SIGN == 0 {
                self.smin = self.smin.max(self.umin as i64);
                self.smax = self.smax.min(self.umax as i64);
            }
            if self.umin > self.umax || self.smin > self.smax {
                return false;
            }
            match self.tn.intersect(Tnum::range(self.umin, self.umax)) {
                Some(t) => self.tn = t,
                None => return false,
            }
        }
        true
    }

    /// Every value either may hold.
    pub fn join(&self, o: &Scalar) -> Scalar {
        Scalar {
            umin: self.umin.min(o.umin),
            umax: self.umax.max(o.umax),
            smin: self.smin.min(o.smin),
            smax: self.smax.max(o.smax),
            tn: self.tn.union(o.tn),
        }
    }

    /// Whether every value `o` may hold, `self` may hold too.
    pub fn contains(&self, o: &Scalar) -> bool {
        o.umin >= self.umin
            && o.umax <= self.umax
            && o.smin >= self.smin
            && o.smax <= self.smax
            && self.tn.contains(o.tn)
    }

    fn from_tnum(tn: Tnum) -> Scalar {
        let mut s = Scalar {
            tn,
            ..Scalar::UNKNOWN
        };
        s.sync();
        s
    }

    /// The low 32 bits, zero-extended.
    pub fn low32(&self) -> Scalar {
        if self.umax <= u64::from(u32::MAX) {
            *self
        } else {
            let mut s = Scalar::from_tnum(self.tn.low32());
            s.umax = s.umax.min(u64::from(u32::MAX));
            s.sync();
            s
        }
    }

    /// `self op o` at `width`, as precisely as cheaply possible.
    pub fn alu(&self, width: Width, op: AluOp, o: &Scalar) -> Scalar {
        if let (Some(a), Some(b)) = (self.as_const(), o.as_const()) {
            return Scalar::constant(semantics::alu(width, op, a, b));
        }
        match width {
            Width::W64 => self.alu64(op, o),
            Width::W32 => {
                let (a, b) = (self.low32(), o.low32());
                match op {
                    // These need the 32-bit sign, which the 64-bit
                    // computation on zero-extended halves would not see.
                    AluOp::SDiv | AluOp::SMod | AluOp::Arsh => Scalar::bits(32),
                    AluOp::Lsh | AluOp::Rsh => {
                        let b = match b.as_const() {
                            Some(k) => Scalar::constant(k & 31),
                            None => Scalar::unsigned(0, 31),
                        };
                        a.alu64(op, &b).low32()
                    }
                    _ => a.alu64(op, &b).low32(),
                }
            }
        }
    }

    fn alu64(&self, op: AluOp, o: &Scalar) -> Scalar {
        let a = self;
        let mut r = match op {
            AluOp::Mov => *o,
            AluOp::Add => {
                let mut r = Scalar::from_tnum(a.tn.add(o.tn));
                if let (Some(lo), Some(hi)) =
                    (a.umin.checked_add(o.umin), a.umax.checked_add(o.umax))
                {
                    r.umin = r.umin.max(lo);
                    r.umax = r.umax.min(hi);
                }
                if let (Some(lo), Some(hi)) =
                    (a.smin.checked_add(o.smin), a.smax.checked_add(o.smax))
                {
                    r.smin = r.smin.max(lo);
                    r.smax = r.smax.min(hi);
                }
                r
            }
            AluOp::Sub => {
                let mut r = Scalar::from_tnum(a.tn.sub(o.tn));
                if let (Some(lo), Some(hi)) =
                    (a.umin.checked_sub(o.umax), a.umax.checked_sub(o.umin))
                {
                    r.umin = r.umin.max(lo);
                    r.umax = r.umax.min(hi);
                }
                if let (Some(lo), Some(hi)) =
                    (a.smin.checked_sub(o.smax), a.smax.checked_sub(o.smin))
                {
                    r.smin = r.smin.max(lo);
                    r.smax = r.smax.min(hi);
                }
                r
            }
            AluOp::Mul => {
                let mut r = Scalar::from_tnum(a.tn.mul(o.tn));
                if let Some(hi) = a.umax.checked_mul(o.umax) {
                    r.umin = r.umin.max(a.umin * o.umin);
                    r.umax = r.umax.min(hi);
                }
                r
            }
            AluOp::Div => match a.umax.checked_div(o.umin) {
                Some(hi) => Scalar::unsigned(a.umin / o.umax, hi),
                None => Scalar::unsigned(0, a.umax),
            },
            AluOp::Mod => {
                if o.umin > 0 {
                    Scalar::unsigned(0, a.umax.min(o.umax - 1))
                } else {
                    Scalar::unsigned(0, a.umax)
                }
            }
            AluOp::And => {
                let mut r = Scalar::from_tnum(a.tn.and(o.tn));
                r.umax = r.umax.min(a.umax).min(o.umax);
                r
            }
            AluOp::Or => {
                let mut r = Scalar::from_tnum(a.tn.or(o.tn));
                r.umin = r.umin.max(a.umin).max(o.umin);
                r
            }
            AluOp::Xor => Scalar::from_tnum(a.tn.xor(o.tn)),
            AluOp::Lsh => match o.as_const() {
                Some(k) => {
                    let k = (k & 63) as u32;
                    let mut r = Scalar::from_tnum(a.tn.lsh(k));
                    if a.umax.leading_zeros() >= k {
                        r.umin = r.umin.max(a.umin << k);
                        r.umax = r.umax.min(a.umax << k);
                    }
                    r
                }
                None => Scalar::UNKNOWN,
            },
            AluOp::Rsh => match o.as_const() {
                Some(k) => {
                    let k = (k & 63) as u32;
                    let mut r = Scalar::from_tnum(a.tn.rsh(k));
                    r.umin = r.umin.max(a.umin >> k);
                    r.umax = r.umax.min(a.umax >> k);
                    r
                }
                None => Scalar::unsigned(0, a.umax),
            },
            AluOp::Arsh => match o.as_const() {
                Some(k) => {
                    let k = (k & 63) as u32;
                    let mut r = Scalar::from_tnum(a.tn.arsh(k));
                    r.smin = r.smin.max(a.smin >> k);
                    r.smax = r.smax.min(a.smax >> k);
                    r
                }
                None => Scalar::UNKNOWN,
            },
            AluOp::SDiv | AluOp::SMod => Scalar::UNKNOWN,
        };
        if r.sync() { r } else { Scalar::UNKNOWN }
    }
}

/// The condition that holds on the fall-through edge of `cond`; `None` for
/// "not `Set`", which has no condition code.
pub(super) fn negate(cond: JmpCond) -> Option<JmpCond> {
    Some(match cond {
        JmpCond::Eq => JmpCond::Ne,
        JmpCond::Ne => JmpCond::Eq,
        JmpCond::Gt => JmpCond::Le,
        JmpCond::Le => JmpCond::Gt,
        JmpCond::Ge => JmpCond::Lt,
        JmpCond::Lt => JmpCond::Ge,
        JmpCond::Sgt => JmpCond::Sle,
        JmpCond::Sle => JmpCond::Sgt,
        JmpCond::Sge => JmpCond::Slt,
        JmpCond::Slt => JmpCond::Sge,
        JmpCond::Set => return None,
    })
}

fn is_signed(cond: JmpCond) -> bool {
    matches!(
        cond,
        JmpCond::Sgt | JmpCond::Sge | JmpCond::Slt | JmpCond::Sle
    )
}

/// Narrows `a` and `b` to the values for which `a cond b` (at `width`) is
/// `taken`. Returns `false` if no values are left: that edge is dead.
pub(crate) fn refine(
    width: Width,
    cond: JmpCond,
    taken: bool,
    a: &mut Scalar,
    b: &mut Scalar,
) -> bool {
    if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
        return cond.holds(width, x, y) == taken;
    }
    if width == Width::W32 {
        // Comparing low halves equals comparing whole values only when both
        // fit in 32 bits (and, for signed conditions, in 31).
        let limit = if is_signed(cond) {
            i32::MAX as u64
        } else {
            u64::from(u32::MAX)
        };
        if a.umax > limit || b.umax > limit {
            return true;
        }
    }
    let cond = if taken {
        cond
    } else {
        match negate(cond) {
            Some(c) => c,
            None => {
                // a & k == 0 for a constant k: those bits of a are zero.
                if let Some(k) = b.as_const() {
                    a.tn.value &= !k;
                    a.tn.mask &= !k;
                    return a.sync();
                }
                return true;
            }
        }
    };
    holds(cond, a, b) && a.sync() && b.sync()
}

fn holds(cond: JmpCond, a: &mut Scalar, b: &mut Scalar) -> bool {
    match cond {
        JmpCond::Eq => {
            let Some(tn) = a.tn.intersect(b.tn) else {
                return false;
            };
            let both = Scalar {
                umin: a.umin.max(b.umin),
                umax: a.umax.min(b.umax),
                smin: a.smin.max(b.smin),
                smax: a.smax.min(b.smax),
                tn,
            };
            *a = both;
            *b = both;
            true
        }
        JmpCond::Ne => {
            if let Some(k) = b.as_const()
                && !exclude(a, k)
            {
                return false;
            }
            if let Some(k) = a.as_const()
                && !exclude(b, k)
            {
                return false;
            }
            true
        }
        JmpCond::Gt => {
            let (Some(lo), Some(hi)) = (b.umin.checked_add(1), a.umax.checked_sub(1)) else {
                return false;
            };
            a.umin = a.umin.max(lo);
            b.umax = b.umax.min(hi);
            true
        }
        JmpCond::Ge => {
            a.umin = a.umin.max(b.umin);
            b.umax = b.umax.min(a.umax);
            true
        }
        JmpCond::Lt => holds(JmpCond::Gt, b, a),
        JmpCond::Le => holds(JmpCond::Ge, b, a),
        JmpCond::Sgt => {
            let (Some(lo), Some(hi)) = (b.smin.checked_add(1), a.smax.checked_sub(1)) else {
                return false;
            };
            a.smin = a.smin.max(lo);
            b.smax = b.smax.min(hi);
            true
        }
        JmpCond::Sge => {
            a.smin = a.smin.max(b.smin);
            b.smax = b.smax.min(a.smax);
            true
        }
        JmpCond::Slt => holds(JmpCond::Sgt, b, a),
        JmpCond::Sle => holds(JmpCond::Sge, b, a),
        JmpCond::Set => {
            // Some bit of a & b is one: impossible if no bit can be.
            (a.tn.value | a.tn.mask) & (b.tn.value | b.tn.mask) != 0
        }
    }
}

/// Removes `k` from `x` where it is an end of a range; `false` if nothing
/// is left.
fn exclude(x: &mut Scalar, k: u64) -> bool {
    if x.umin == k {
        if k == u64::MAX {
            return false;
        }
        x.umin = k + 1;
    }
    if x.umax == k {
        if k == 0 {
            return false;
        }
        x.umax = k - 1;
    }
    if x.smin == k as i64 {
        if x.smin == i64::MAX {
            return false;
        }
        x.smin += 1;
    }
    if x.smax == k as i64 {
        if x.smax == i64::MIN {
            return false;
        }
        x.smax -= 1;
    }
    true
}
