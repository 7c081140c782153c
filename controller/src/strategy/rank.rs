//! Ranks of rewards: what the predictor's model fits and what a warm start
//! compares within each source, so rewards on any scale weigh alike.

/// Each reward's rank among `rewards`, scaled to [0, 1] (ties share
/// their mean rank): the model fits the order of the rewards, so a long
/// tail of poor children does not drown the differences among the good.
pub fn ranks(rewards: &[f64]) -> Vec<f64> {
    let n = rewards.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| rewards[a].total_cmp(&rewards[b]));
    let mut out = vec![0.0; n];
    let scale = (n.max(2) - 1) as f64;
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && rewards[order[end]] == rewards[order[start]] {
            end += 1;
        }
        let rank = (start + end - 1) as f64 / 2.0 / scale;
        for &at in &order[start..end] {
            out[at] = rank;
        }
        start = end;
    }
    out
}
