//! Whether a screenshot shows anything.

use std::collections::HashMap;
use std::io::BufReader;
use std::path::Path;

/// Whether the PNG at `png` is (nearly) one colour: more than 99.5% of its
/// pixels equal the most common one.
pub fn is_blank(png: &Path) -> Result<bool, String> {
    let file = std::fs::File::open(png).map_err(|e| format!("{}: {e}", png.display()))?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(|e| format!("{}: {e}", png.display()))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or_else(|| format!("{}: too large", png.display()))?];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("{}: {e}", png.display()))?;
    let pixel = info.color_type.samples() * if info.bit_depth == png::BitDepth::Sixteen { 2 } else { 1 };
    let mut counts: HashMap<&[u8], u64> = HashMap::new();
    let row = info.width as usize * pixel;
    for line in buf[..info.buffer_size()].chunks_exact(info.line_size) {
        for p in line[..row].chunks_exact(pixel) {
            *counts.entry(p).or_default() += 1;
        }
    }
    let total = u64::from(info.width) * u64::from(info.height);
    let most = counts.values().copied().max().unwrap_or(0);
    Ok(total == 0 || most as f64 > 0.995 * total as f64)
}
