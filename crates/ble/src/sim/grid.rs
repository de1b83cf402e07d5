//! A uniform grid over the simulated area holding every device that is
//! advertising, so that a scan looks only at the devices within radio range.
//!
//! Advertisers are kept twice: in `entries`, one slot per device, where
//! moves and rotations are cheap; and in `sorted`, the same entries ordered
//! by cell (a counting sort), rebuilt only before a scan runs after
//! something changed. In `sorted` a row of cells is one contiguous slice, so
//! a query walks a few slices of plain memory however small the cells.
//!
//! Each entry carries what a scan needs to evaluate the link, so the hot
//! loop never chases device records. Positions outside the area are clamped
//! into the border cells: clamping never moves two points further apart, so
//! a neighbour within range is still among the cells a query visits, and
//! distances are always computed from the true positions.

use super::Position;
use greenlight_protocol::advert::Advertisement;

/// What a scan needs to know about an advertising device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Entry {
    pub(crate) position: Position,
    pub(crate) device: u32,
    pub(crate) zone: u32,
    pub(crate) tx_power_dbm: f32,
    pub(crate) body_loss_db: f32,
    pub(crate) advertisement: Advertisement,
}

/// The most cells a grid has; a larger area gets larger cells.
const MAX_CELLS: f32 = 1_048_576.0;

#[derive(Debug, Clone)]
pub(crate) struct Grid {
    cell_m: f32,
    cols: u32,
    rows: u32,
    entries: Vec<Entry>,
    sorted: Vec<Entry>,
    /// `sorted[starts[c]..starts[c + 1]]` are the entries of cell `c`.
    starts: Vec<u32>,
    /// Scratch for [`Grid::prepare`]: the cell of each entry, then where
    /// the next entry of each cell goes.
    cell_of_entry: Vec<u32>,
    next: Vec<u32>,
    dirty: bool,
}

impl Grid {
    /// A grid of `cell_m`-metre cells (or larger, see [`MAX_CELLS`])
    /// covering `[0, width] × [0, height]`.
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped to 1..=2^20 first")]
    pub(crate) fn new(width_m: f32, height_m: f32, cell_m: f32) -> Self {
        let cell_m = cell_m.max((width_m * height_m / MAX_CELLS).sqrt());
        let count = |extent: f32| (extent / cell_m).ceil().clamp(1.0, MAX_CELLS) as u32;
        let (cols, rows) = (count(width_m), count(height_m));
        let cells = cols as usize * rows as usize;
        Grid {
            cell_m,
            cols,
            rows,
            entries: Vec::new(),
            sorted: Vec::new(),
            starts: vec![0; cells + 1],
            cell_of_entry: Vec::new(),
            next: Vec::new(),
            dirty: false,
        }
    }

    #[expect(clippy::cast_possible_truncation, reason = "clamped to the grid first")]
    fn coordinate(&self, v: f32, count: u32) -> i64 {
        // Truncation is the floor for the non-negative values that are not
        // clamped to 0 anyway (and avoids a library call for `floor`); `as`
        // saturates NaN to 0 and infinities to the bounds.
        ((v / self.cell_m) as i64).clamp(0, i64::from(count) - 1)
    }

    fn cell_index(&self, col: i64, row: i64) -> usize {
        usize::try_from(row * i64::from(self.cols) + col).expect("inside the grid")
    }

    fn cell_of(&self, p: Position) -> usize {
        self.cell_index(self.coordinate(p.x, self.cols), self.coordinate(p.y, self.rows))
    }

    /// Adds an entry; returns its slot.
    pub(crate) fn insert(&mut self, entry: Entry) -> u32 {
        self.entries.push(entry);
        self.dirty = true;
        u32::try_from(self.entries.len() - 1).expect("fewer than 2^32 devices")
    }

    /// Removes the entry in `slot`. If another entry moved into the slot,
    /// returns its device.
    pub(crate) fn remove(&mut self, slot: u32) -> Option<u32> {
        self.entries.swap_remove(slot as usize);
        self.dirty = true;
        self.entries.get(slot as usize).map(|moved| moved.device)
    }

    /// Replaces the entry in `slot`.
    pub(crate) fn update(&mut self, slot: u32, entry: Entry) {
        self.entries[slot as usize] = entry;
        self.dirty = true;
    }

    /// The entry in `slot`.
    pub(crate) fn get(&self, slot: u32) -> &Entry {
        &self.entries[slot as usize]
    }

    /// Sorts the entries by cell if anything changed since the last time.
    pub(crate) fn prepare(&mut self) {
        if !self.dirty {
            return;
        }
        self.starts.fill(0);
        self.cell_of_entry.clear();
        for i in 0..self.entries.len() {
            let cell = self.cell_of(self.entries[i].position);
            self.starts[cell + 1] += 1;
            self.cell_of_entry.push(u32::try_from(cell).expect("fewer than 2^32 cells"));
        }
        for c in 1..self.starts.len() {
            self.starts[c] += self.starts[c - 1];
        }
        // Fill each cell from its start; `starts[c]` ends at the start of c + 1.
        self.next.clone_from(&self.starts);
        self.sorted.clear();
        self.sorted.resize(self.entries.len(), self.entries.first().copied().unwrap_or_else(Entry::placeholder));
        for (e, &cell) in self.entries.iter().zip(&self.cell_of_entry) {
            let slot = &mut self.next[cell as usize];
            self.sorted[*slot as usize] = *e;
            *slot += 1;
        }
        self.dirty = false;
    }

    /// The entries in the cells that can hold a point within `radius_m` of
    /// `center` (and some beyond: callers check the distance), one slice
    /// per row of cells. The grid must be [`Grid::prepare`]d.
    #[expect(clippy::cast_possible_truncation, reason = "clamped to the grid size")]
    pub(crate) fn near(&self, center: Position, radius_m: f32) -> impl Iterator<Item = &[Entry]> {
        debug_assert!(!self.dirty, "query before prepare");
        // One more than the truncation: at least the ceiling.
        let reach = i64::from((radius_m / self.cell_m).clamp(0.0, MAX_CELLS) as u32) + 1;
        let (col, row) = (self.coordinate(center.x, self.cols), self.coordinate(center.y, self.rows));
        let (c0, c1) = ((col - reach).max(0), (col + reach).min(i64::from(self.cols) - 1));
        let (r0, r1) = ((row - reach).max(0), (row + reach).min(i64::from(self.rows) - 1));
        (r0..=r1).map(move |r| {
            let first = self.starts[self.cell_index(c0, r)] as usize;
            let end = self.starts[self.cell_index(c1, r) + 1] as usize;
            &self.sorted[first..end]
        })
    }
}

impl Entry {
    fn placeholder() -> Self {
        use greenlight_protocol::daily_key::{EncryptedMetadata, EphemeralId};
        Entry {
            position: Position::default(),
            device: 0,
            zone: 0,
            tx_power_dbm: 0.0,
            body_loss_db: 0.0,
            advertisement: Advertisement { id: EphemeralId([0; 16]), metadata: EncryptedMetadata([0; 4]) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(device: u32, x: f32, y: f32) -> Entry {
        Entry { position: Position { x, y }, device, ..Entry::placeholder() }
    }

    fn near(grid: &Grid, x: f32, y: f32, r: f32) -> Vec<u32> {
        let mut found = Vec::new();
        for e in grid.near(Position { x, y }, r).flatten() {
            let (dx, dy) = (e.position.x - x, e.position.y - y);
            if dx * dx + dy * dy <= r * r {
                found.push(e.device);
            }
        }
        found.sort_unstable();
        found
    }

    #[test]
    fn finds_neighbours_across_cells_and_outside_the_area() {
        let mut grid = Grid::new(100.0, 100.0, 10.0);
        let a = grid.insert(entry(0, 5.0, 5.0));
        grid.insert(entry(1, 14.0, 5.0));
        let c = grid.insert(entry(2, 60.0, 60.0));
        grid.insert(entry(3, -30.0, 5.0)); // left of the area
        grid.insert(entry(4, -38.0, 5.0));
        grid.prepare();
        assert_eq!(near(&grid, 9.0, 5.0, 6.0), vec![0, 1]);
        assert_eq!(near(&grid, -34.0, 5.0, 5.0), vec![3, 4]);
        assert_eq!(near(&grid, 1e9, f32::NAN, 5.0), Vec::<u32>::new());

        // Device 0 walks over to device 2.
        grid.update(a, entry(0, 65.0, 60.0));
        grid.prepare();
        assert_eq!(near(&grid, 62.0, 60.0, 4.0), vec![0, 2]);
        assert_eq!(near(&grid, 9.0, 5.0, 6.0), vec![1]);
        // Device 2 stops advertising; device 4, the last, takes its slot.
        assert_eq!(grid.remove(c), Some(4));
        assert_eq!(grid.get(c).device, 4);
        grid.prepare();
        assert_eq!(near(&grid, 62.0, 60.0, 4.0), vec![0]);
        assert_eq!(near(&grid, -34.0, 5.0, 5.0), vec![3, 4]);
    }

    #[test]
    fn huge_areas_get_larger_cells() {
        let grid = Grid::new(1e6, 1e6, 1.0);
        assert!(grid.starts.len() as f32 <= MAX_CELLS + 2.0);
        assert!(grid.cell_m >= 976.0);
    }
}
