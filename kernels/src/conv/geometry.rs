//! The sizes of one 3-D convolution and the index arithmetic they imply.

/// Sizes of a convolution of `batch` samples: input `[c_in, input]`,
/// weight `[c_out, c_in, kernel]`, output `[c_out, output]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Samples.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Input depth, height, width.
    pub input: [usize; 3],
    /// Output depth, height, width.
    pub output: [usize; 3],
    /// Kernel depth, height, width.
    pub kernel: [usize; 3],
    /// Stride per axis.
    pub stride: [usize; 3],
    /// Zero padding per axis (both sides).
    pub padding: [usize; 3],
}

impl Geometry {
    /// The geometry of a convolution with the usual output size,
    /// `(in + 2·pad − kernel) / stride + 1` per axis.
    pub fn conv(
        batch: usize,
        c_in: usize,
        c_out: usize,
        input: [usize; 3],
        kernel: [usize; 3],
        stride: [usize; 3],
        padding: [usize; 3],
    ) -> Self {
        let output = std::array::from_fn(|a| (input[a] + 2 * padding[a] - kernel[a]) / stride[a] + 1);
        Geometry { batch, c_in, c_out, input, output, kernel, stride, padding }
    }

    /// Voxels of one input channel.
    pub fn input_voxels(&self) -> usize {
        self.input.iter().product()
    }

    /// Voxels of one output channel.
    pub fn output_voxels(&self) -> usize {
        self.output.iter().product()
    }

    /// Taps of the kernel (k_d·k_h·k_w).
    pub fn taps(&self) -> usize {
        self.kernel.iter().product()
    }

    /// Rows of the lowered input: one per (input channel, tap).
    pub fn rows(&self) -> usize {
        self.c_in * self.taps()
    }

    /// The input channel and kernel offsets of lowered row `r`.
    pub(super) fn split_row(&self, r: usize) -> (usize, [usize; 3]) {
        let [_, kh, kw] = self.kernel;
        let tap = r % self.taps();
        (r / self.taps(), [tap / (kh * kw), tap / kw % kh, tap % kw])
    }

    /// Elements of the input, the weight and the output.
    pub fn sizes(&self) -> [usize; 3] {
        [self.batch * self.c_in * self.input_voxels(), self.c_out * self.rows(), self.batch * self.c_out * self.output_voxels()]
    }
}
