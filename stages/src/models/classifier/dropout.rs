//! Dropout masks for trainings that run side by side.
//!
//! burn's `Dropout` draws each mask from the backend's generator when it is
//! applied. That generator is one per process (burn flex keeps it behind a
//! global lock), and the classifier's parameters are drawn from it too, lazily,
//! during the first forward pass. Several trainings at once would therefore
//! race for it, and their masks would depend on how the threads interleave.
//!
//! A [`MaskStream`] draws a training's whole sequence of masks from the same
//! seeded generator before the training starts, on one thread, in the order
//! and with the calls burn's `Dropout` would have used; [`dropout`] then
//! applies them with burn's arithmetic. A training fed from its stream gets
//! the bits it would have got running alone with burn's `Dropout`.

use burn::prelude::*;
use burn::tensor::Distribution;

/// Values drawn per call to the backend while drawing ahead.
const CHUNK: usize = 1 << 20;

/// A training's dropout masks: Bernoulli(keep) values drawn from the
/// backend's generator, kept one bit each, handed out in order.
#[derive(Clone, Debug)]
pub struct MaskStream {
    /// Probability of keeping an element.
    keep: f64,
    /// The drawn values, 64 to a word (bit `i % 64` of word `i / 64`).
    bits: Vec<u64>,
    /// Values drawn.
    len: usize,
    /// The next value to hand out.
    next: usize,
    /// Whether handing out more than was drawn may draw more (only while
    /// one thread owns the backend's generator).
    may_draw: bool,
}

impl MaskStream {
    /// An empty stream for dropout probability `prob` (in [0, 1)) that draws
    /// from the backend as masks are asked for, until [`MaskStream::draw_ahead`].
    pub fn new(prob: f64) -> Self {
        MaskStream { keep: 1.0 - prob, bits: Vec::new(), len: 0, next: 0, may_draw: true }
    }

    /// Values drawn so far.
    pub fn drawn(&self) -> usize {
        self.len
    }

    /// Draws from the backend until `total` values are drawn, then starts
    /// handing out again from the first value; the stream draws nothing
    /// after this, so the training that owns it may run on any thread.
    pub fn draw_ahead<B: Backend>(&mut self, total: usize, device: &B::Device) {
        while self.len < total {
            self.draw::<B>((total - self.len).min(CHUNK), device);
        }
        self.next = 0;
        self.may_draw = false;
    }

    /// Appends `n` values drawn from the backend's generator, with the call
    /// burn's `Dropout` makes (`float_random`, Bernoulli(keep), float32).
    pub fn draw<B: Backend>(&mut self, n: usize, device: &B::Device) {
        let values: Vec<f32> =
            Tensor::<B, 1>::random([n], Distribution::Bernoulli(self.keep), device).into_data().to_vec().expect("float32 mask");
        self.bits.resize((self.len + n).div_ceil(64), 0);
        for (i, v) in values.into_iter().enumerate() {
            let at = self.len + i;
            self.bits[at / 64] |= u64::from(v != 0.0) << (at % 64);
        }
        self.len += n;
    }

    /// The next `n` values as 1.0 (kept) or 0.0 (dropped).
    fn take<B: Backend>(&mut self, n: usize, device: &B::Device) -> Vec<f32> {
        if self.next + n > self.len {
            assert!(self.may_draw, "dropout masks ran out: {} drawn ahead, {} asked for", self.len, self.next + n);
            self.draw::<B>(self.next + n - self.len, device);
        }
        let values = (self.next..self.next + n).map(|i| ((self.bits[i / 64] >> (i % 64)) & 1) as f32).collect();
        self.next += n;
        values
    }
}

/// burn's `Dropout::forward` while training, with the mask taken from
/// `masks`: `x · mask · (1 / keep)`, nothing at all when `prob` is 0.
pub fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, prob: f64, masks: &mut MaskStream) -> Tensor<B, D> {
    if prob == 0.0 {
        return x;
    }
    let (dims, device) = (x.dims(), x.device());
    let mask = masks.take::<B>(dims.iter().product(), &device);
    let x = x * Tensor::<B, D>::from_data(TensorData::new(mask, dims), &device);
    x * (1.0 / masks.keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    // That masks drawn ahead give burn's own dropout bits is checked in
    // tests/dropout_masks.rs, a process of its own: it seeds the backend's
    // global generator, which other unit tests draw from.

    #[test]
    #[should_panic(expected = "dropout masks ran out: 10 drawn ahead, 12 asked for")]
    fn a_stream_drawn_ahead_never_draws_again() {
        let device = Default::default();
        let mut masks = MaskStream::new(0.5);
        masks.draw_ahead::<Flex>(10, &device);
        dropout(Tensor::<Flex, 1>::ones([12], &device), 0.5, &mut masks);
    }
}
