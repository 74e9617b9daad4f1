//! Structured values read from the fuzzer's bytes: each read takes what it needs from the front.
//! Once the bytes run out, reads go on from a generator seeded with a hash of the input, so
//! every input decodes to something, deterministically, and a short input is not steered into
//! whichever branch a run of zeros picks.

pub struct Input<'a> {
    data: &'a [u8],
    state: u64,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        // FNV-1a of the input, never zero (xorshift's fixed point).
        let hash = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
        Input { data, state: hash | 1 }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                (self.state >> 32) as u8
            }
        }
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 256 {
            usize::from(self.byte()) % n
        } else {
            let wide = u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()]);
            wide as usize % n
        }
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    /// An integer, often small, sometimes at the edges of `i64`.
    pub fn i64(&mut self) -> i64 {
        match self.below(8) {
            0 => i64::MAX - self.below(3) as i64,
            1 => i64::MIN + self.below(3) as i64,
            2 => self.u64() as i64,
            _ => self.below(41) as i64 - 20,
        }
    }

    /// Up to `max` tokens of `alphabet`, concatenated.
    pub fn text(&mut self, alphabet: &[&str], max: usize) -> String {
        let len = self.below(max + 1);
        (0..len).map(|_| *self.pick(alphabet)).collect()
    }

    /// A length-prefixed run of raw bytes (at most `max`).
    pub fn chunk(&mut self, max: usize) -> &'a [u8] {
        let want = (usize::from(self.byte()) << 8 | usize::from(self.byte())).min(max).min(self.data.len());
        let (chunk, rest) = self.data.split_at(want);
        self.data = rest;
        chunk
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
