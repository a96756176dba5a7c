//! Reads lines `LABEL PATH` (Arrow IPC files) on stdin; for each label and
//! codec prints the files' total size and the median write and read time
//! (in memory, one thread), after checking that every codec reads back the
//! same batches.

use std::collections::BTreeMap;
use std::io::{BufRead, Cursor};
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_ipc::CompressionType;
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};

const CODECS: &[(&str, Option<CompressionType>, Option<i32>)] = &[
    ("none", None, None),
    ("lz4", Some(CompressionType::LZ4_FRAME), None),
    ("zstd-1", Some(CompressionType::ZSTD), Some(1)),
    ("zstd-2", Some(CompressionType::ZSTD), Some(2)),
    ("zstd-3", Some(CompressionType::ZSTD), Some(3)),
];
const REPS: usize = 3;

fn read(bytes: &[u8]) -> Vec<RecordBatch> {
    FileReader::try_new(Cursor::new(bytes), None).unwrap().map(|b| b.unwrap()).collect()
}

fn write(batches: &[RecordBatch], codec: Option<CompressionType>, level: Option<i32>) -> Vec<u8> {
    let opts = IpcWriteOptions::default().try_with_compression(codec).unwrap().try_with_compression_level(level).unwrap();
    let mut out = Vec::new();
    let mut w = FileWriter::try_new_with_options(&mut out, &batches[0].schema(), opts).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let (label, path) = line.split_once(' ').unwrap();
        groups.entry(label.to_owned()).or_default().push(path.to_owned());
    }
    println!("| files | n | codec | MB | ratio | write s | read s |");
    println!("|---|---|---|---|---|---|---|");
    for (label, paths) in &groups {
        let inputs: Vec<Vec<RecordBatch>> = paths.iter().map(|p| read(&std::fs::read(p).unwrap())).collect();
        let mut raw = 0usize;
        for (name, codec, level) in CODECS {
            let (mut size, mut wt, mut rt) = (0usize, Vec::new(), Vec::new());
            for _ in 0..REPS {
                let (mut w_s, mut r_s, mut s) = (0.0, 0.0, 0);
                for batches in &inputs {
                    let t = Instant::now();
                    let bytes = write(batches, *codec, *level);
                    w_s += t.elapsed().as_secs_f64();
                    let t = Instant::now();
                    let back = read(&bytes);
                    r_s += t.elapsed().as_secs_f64();
                    assert_eq!(&back, batches, "{name} reads back what it wrote");
                    s += bytes.len();
                }
                (size, _) = (s, ());
                wt.push(w_s);
                rt.push(r_s);
            }
            if codec.is_none() {
                raw = size;
            }
            let mb = size as f64 / 1e6;
            println!("| {label} | {} | {name} | {mb:.1} | {:.2} | {:.3} | {:.3} |", paths.len(), raw as f64 / size as f64, median(wt), median(rt));
        }
    }
}
