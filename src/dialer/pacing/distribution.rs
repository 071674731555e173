//! Probability distributions the pacing estimator fits: the standard normal CDF and its
//! inverse, lognormal durations fitted online from decayed log-moments, and the exact
//! distribution of a count of independent events (Poisson-binomial) for small-count risk.
//! Pure arithmetic; no clock, no randomness.

/// Standard normal cumulative distribution function.
///
/// Uses the complementary error function approximation of Numerical Recipes (`erfcc`,
/// fractional error below 1.2e-7), good enough for pacing probabilities.
pub fn normal_cdf(z: f64) -> f64 {
    let x = -z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
    0.5 * erfc
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error
/// below 1.2e-9). `p` is clamped into (1e-12, 1 - 1e-12).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// A lognormal duration in seconds: `ln X ~ Normal(mu, sigma²)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogNormal {
    pub mu: f64,
    pub sigma: f64,
}

impl LogNormal {
    /// The lognormal with the given mean and coefficient of variation (sd / mean).
    pub fn from_mean_cv(mean: f64, cv: f64) -> Self {
        let var_log = (1.0 + cv * cv).ln();
        let sigma = var_log.sqrt().max(1e-6);
        LogNormal { mu: mean.max(1e-9).ln() - var_log / 2.0, sigma }
    }

    pub fn mean(&self) -> f64 {
        (self.mu + self.sigma * self.sigma / 2.0).exp()
    }

    /// P(X ≤ x).
    pub fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 { 0.0 } else { normal_cdf((x.ln() - self.mu) / self.sigma) }
    }

    /// The p-quantile.
    pub fn quantile(&self, p: f64) -> f64 {
        (self.mu + self.sigma * normal_quantile(p)).exp()
    }

    /// P(X ≤ elapsed + h | X > elapsed): the chance that something already running for
    /// `elapsed` seconds ends within the next `h` seconds.
    pub fn ends_within(&self, elapsed: f64, h: f64) -> f64 {
        self.given_elapsed(elapsed).ends_within(h)
    }

    /// The distribution conditioned on having run `elapsed` seconds, for asking
    /// [`Elapsed::ends_within`] about several horizons at the cost of one CDF each.
    pub fn given_elapsed(&self, elapsed: f64) -> Elapsed {
        Elapsed { dist: *self, elapsed, done: self.cdf(elapsed) }
    }
}

/// A lognormal duration known to have run `elapsed` seconds so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Elapsed {
    dist: LogNormal,
    elapsed: f64,
    done: f64,
}

impl Elapsed {
    /// P(X ≤ elapsed + h | X > elapsed).
    pub fn ends_within(&self, h: f64) -> f64 {
        let survival = 1.0 - self.done;
        if survival < 1e-12 {
            return 1.0;
        }
        ((self.dist.cdf(self.elapsed + h) - self.done) / survival).clamp(0.0, 1.0)
    }
}

/// Exponentially decayed moments of `ln x`, for a lognormal fit that follows drift.
/// Each new sample multiplies the old weight by `decay` (in (0, 1]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LogMoments {
    weight: f64,
    sum: f64,
    sum_sq: f64,
}

impl LogMoments {
    pub fn observe(&mut self, x: f64, decay: f64) {
        let l = x.max(1e-3).ln();
        self.weight = self.weight * decay + 1.0;
        self.sum = self.sum * decay + l;
        self.sum_sq = self.sum_sq * decay + l * l;
    }

    pub fn weight(&self) -> f64 {
        self.weight
    }

    /// The fitted lognormal, blending in `prior` as `prior_weight` pseudo-samples.
    pub fn fit(&self, prior: LogNormal, prior_weight: f64) -> LogNormal {
        let w = self.weight + prior_weight;
        let prior_sq = prior.sigma * prior.sigma + prior.mu * prior.mu;
        let mu = (self.sum + prior_weight * prior.mu) / w;
        let second = (self.sum_sq + prior_weight * prior_sq) / w;
        let var = (second - mu * mu).max(1e-4);
        LogNormal { mu, sigma: var.sqrt() }
    }
}

/// Chance below which an event is ignored and above `1 - CERTAIN` taken as sure.
const CERTAIN: f64 = 1e-12;

/// The exact distribution of a count of independent events with chances `p_i` (a
/// Poisson-binomial), kept up to `cap`: the mass at `cap` or above is lumped into the
/// last cell, which leaves `P(count >= m)` exact for every `m <= cap`.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    /// `pmf[j]` = P(count = j) for `j < cap`, and P(count >= cap) in the last cell.
    pmf: Vec<f64>,
    cap: usize,
}

impl Counts {
    /// No events yet: the count is 0 for sure.
    pub fn new(cap: usize) -> Self {
        let mut pmf = Vec::with_capacity(cap + 1);
        pmf.push(1.0);
        Counts { pmf, cap }
    }

    /// Add one event that happens with chance `p`.
    pub fn add(&mut self, p: f64) {
        if p <= CERTAIN || self.cap == 0 {
            return;
        }
        let p = p.min(1.0);
        let q = 1.0 - p;
        let len = self.pmf.len();
        if len <= self.cap {
            self.pmf.push(0.0);
        }
        let last = self.pmf.len() - 1;
        // The lumped cell keeps its mass when an event happens.
        let top = if len > self.cap { self.pmf[last] + self.pmf[last - 1] * p } else { self.pmf[last - 1] * p };
        for j in (1..last).rev() {
            self.pmf[j] = self.pmf[j] * q + self.pmf[j - 1] * p;
        }
        self.pmf[0] *= q;
        if last > 0 {
            self.pmf[last] = top;
        }
    }

    /// P(count = j) for `j` below the cap.
    pub fn pmf(&self) -> &[f64] {
        &self.pmf
    }

    /// P(count >= m) (exact for `m <= cap`; 0 above the cap).
    pub fn at_least(&self, m: usize) -> f64 {
        if m == 0 {
            return 1.0;
        }
        self.pmf.get(m..).map_or(0.0, |tail| tail.iter().sum::<f64>().min(1.0))
    }
}

/// P(count = j) for independent events with chances `ps`, by enumerating every outcome
/// (the reference the exact counts are tested against).
#[cfg(test)]
pub(crate) fn enumerate_counts(ps: &[f64]) -> Vec<f64> {
    let mut pmf = vec![0.0; ps.len() + 1];
    for outcome in 0u32..(1 << ps.len()) {
        let (mut prob, mut count) = (1.0, 0);
        for (i, p) in ps.iter().enumerate() {
            if outcome & (1 << i) != 0 {
                prob *= p;
                count += 1;
            } else {
                prob *= 1.0 - p;
            }
        }
        pmf[count] += prob;
    }
    pmf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_table_values() {
        for (z, want) in [(0.0, 0.5), (1.0, 0.841_344_7), (-1.0, 0.158_655_3), (1.96, 0.975_002_1), (-3.0, 0.001_349_9)]
        {
            assert!((normal_cdf(z) - want).abs() < 1e-6, "z={z}");
        }
    }

    #[test]
    fn normal_quantile_inverts_cdf() {
        for p in [0.001, 0.05, 0.3, 0.5, 0.8, 0.99] {
            assert!((normal_cdf(normal_quantile(p)) - p).abs() < 1e-6, "p={p}");
        }
    }

    #[test]
    fn lognormal_from_mean_cv_keeps_the_mean() {
        for (mean, cv) in [(120.0, 1.0), (15.0, 0.5), (9.0, 0.55)] {
            let d = LogNormal::from_mean_cv(mean, cv);
            assert!((d.mean() - mean).abs() < 1e-9 * mean);
        }
    }

    #[test]
    fn ends_within_conditions_on_elapsed_time() {
        let talk = LogNormal::from_mean_cv(120.0, 1.0);
        // Unconditional chance of ending within 10 s is small; it is not memoryless.
        let fresh = talk.ends_within(0.0, 10.0);
        let mid = talk.ends_within(60.0, 10.0);
        let old = talk.ends_within(1200.0, 10.0);
        assert!(fresh < 0.05, "fresh {fresh}");
        assert!(mid > fresh, "mid {mid}");
        assert!(old < mid, "lognormal hazard falls for long calls: {old} vs {mid}");
    }

    #[test]
    fn log_moments_fit_recovers_samples() {
        let truth = LogNormal::from_mean_cv(100.0, 0.5);
        let mut m = LogMoments::default();
        for i in 1..1000 {
            let p = i as f64 / 1000.0;
            m.observe(truth.quantile(p), 1.0);
        }
        let fit = m.fit(LogNormal::from_mean_cv(10.0, 1.0), 1.0);
        assert!((fit.mean() - 100.0).abs() < 2.0, "{}", fit.mean());
    }

    #[test]
    fn counts_match_enumeration() {
        // (chances of the events, cap)
        let cases: [(&[f64], usize); 7] = [
            (&[], 3),
            (&[0.5], 3),
            (&[0.1, 0.2, 0.3], 5),
            (&[1.0, 0.5, 0.0, 0.25], 4),
            (&[0.9, 0.05, 0.5, 0.5, 0.7, 0.3], 2),
            (&[0.2; 8], 0),
            (&[0.03, 0.6, 0.97, 0.4, 0.11, 0.5, 0.8, 0.25, 0.05, 0.66], 6),
        ];
        for (ps, cap) in cases {
            let mut counts = Counts::new(cap);
            ps.iter().for_each(|p| counts.add(*p));
            let want = enumerate_counts(ps);
            for m in 0..=cap + 1 {
                let tail: f64 = if m > cap { 0.0 } else { want.iter().skip(m).sum() };
                assert!((counts.at_least(m) - tail).abs() < 1e-12, "{ps:?} cap {cap}: P(>= {m})");
            }
            for (j, p) in counts.pmf().iter().enumerate().take(cap) {
                assert!((p - want[j]).abs() < 1e-12, "{ps:?} cap {cap}: P(= {j})");
            }
            assert!((counts.pmf().iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }
}
