//! The schedule of upcoming scan windows: one bucket per second in a ring
//! at least one scan period long, so that scheduling and taking the next
//! window cost a push and a pop instead of a heap's logarithm. A town of
//! 10,000 phones runs three million scan windows a day.

/// A scheduled scan window: which device, and which of its scans (a
/// restarted scan makes the windows of the old one stale).
pub(crate) type Window = (u32, u32);

#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    /// The second the bucket at `head` stands for; nothing is scheduled
    /// before it.
    base: u64,
    head: usize,
    /// A power of two long, so that positions wrap with a mask.
    buckets: Vec<Vec<Window>>,
    scheduled: usize,
}

impl Calendar {
    pub(crate) fn new(start: u64) -> Self {
        Calendar { base: start, head: 0, buckets: vec![Vec::new(); 512], scheduled: 0 }
    }

    /// The first second that can still be scheduled.
    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    /// Schedules `window` at second `at` (not before [`Calendar::base`]).
    pub(crate) fn schedule(&mut self, at: u64, window: Window) {
        debug_assert!(at >= self.base, "scheduled in the past");
        let ahead = usize::try_from(at.saturating_sub(self.base)).unwrap_or(usize::MAX);
        if ahead >= self.buckets.len() {
            self.grow(ahead + 1);
        }
        let mask = self.buckets.len() - 1;
        self.buckets[(self.head + ahead) & mask].push(window);
        self.scheduled += 1;
    }

    fn grow(&mut self, at_least: usize) {
        let len = self.buckets.len();
        let mut buckets = vec![Vec::new(); at_least.next_power_of_two()];
        for (i, bucket) in buckets.iter_mut().take(len).enumerate() {
            *bucket = std::mem::take(&mut self.buckets[(self.head + i) % len]);
        }
        self.buckets = buckets;
        self.head = 0;
    }

    /// Takes the windows of the next second if it is at or before `until`:
    /// `(second, windows in order of device)`; the caller hands the vector
    /// back through [`Calendar::recycle`] to keep its allocation.
    pub(crate) fn next_second(&mut self, until: u64) -> Option<(u64, Vec<Window>)> {
        while self.base <= until {
            if self.scheduled == 0 {
                // Nothing to run: jump instead of walking empty seconds.
                self.base = until.saturating_add(1);
                return None;
            }
            let second = self.base;
            let mut windows = std::mem::take(&mut self.buckets[self.head]);
            self.head = (self.head + 1) & (self.buckets.len() - 1);
            self.base += 1;
            if !windows.is_empty() {
                self.scheduled -= windows.len();
                windows.sort_unstable();
                return Some((second, windows));
            }
            let last = (self.head + self.buckets.len() - 1) & (self.buckets.len() - 1);
            self.buckets[last] = windows;
        }
        None
    }

    /// Returns a bucket's vector, emptied, for reuse.
    pub(crate) fn recycle(&mut self, mut windows: Vec<Window>) {
        windows.clear();
        let last = (self.head + self.buckets.len() - 1) & (self.buckets.len() - 1);
        if self.buckets[last].capacity() < windows.capacity() && self.buckets[last].is_empty() {
            self.buckets[last] = windows;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(calendar: &mut Calendar, until: u64) -> Vec<(u64, Vec<Window>)> {
        std::iter::from_fn(|| calendar.next_second(until)).collect()
    }

    #[test]
    fn windows_come_out_by_second_then_device() {
        let mut c = Calendar::new(100);
        c.schedule(105, (7, 0));
        c.schedule(101, (3, 0));
        c.schedule(105, (2, 1));
        c.schedule(100 + 2_000, (1, 0)); // beyond the ring: it grows
        assert_eq!(drain(&mut c, 104), vec![(101, vec![(3, 0)])]);
        assert_eq!(c.base(), 105);
        c.schedule(105, (5, 0));
        assert_eq!(drain(&mut c, 2_100), vec![(105, vec![(2, 1), (5, 0), (7, 0)]), (2_100, vec![(1, 0)])]);
        // Nothing left: a far jump is immediate.
        assert_eq!(drain(&mut c, u64::MAX - 1), Vec::new());
        assert_eq!(c.base(), u64::MAX);
    }
}
