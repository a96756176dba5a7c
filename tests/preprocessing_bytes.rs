//! The faster preprocessing of issue 33 changed how `hu_volume`, `resample`
//! and `lung_mask` compute, not what; issue 31 changed how their `.arrow`
//! files are stored (zstd-compressed buffers), not what they hold. On every
//! real chest series each output file keeps the bytes pinned in [`FILES`]
//! (the compressed files of issue 31), and each `.arrow` file decodes to
//! the metadata and values pinned in [`DECODED`]: the digests of what the
//! uncompressed files written before issue 31 decode to (the binary of
//! 2af9671), so compressing changed no voxel of any volume or mask.

mod common;

use std::path::Path;

use arrow_array::types::{Int16Type, UInt8Type};
use common::*;
use lungflow_stages::formats::slices::read_rows;

/// (series, file under the series' work folder, blake3 of its bytes).
const FILES: &[(&str, &str, &str)] = &[
    ("Lung_Dx-A0001", "hu/volume.arrow", "2acf35a915002ef00554ee602225b175e0b285ce10d020e10bcc74c24878923b"),
    ("Lung_Dx-A0001", "iso/volume.arrow", "ce46b5b421855ed410177b6b3d072c9a329c6545eff50e5c66862b777f16a7b3"),
    ("Lung_Dx-A0001", "lungs/volume.arrow", "3fbaa06a2a5b7d396c7c70b2ede5c9412a97305db9c8bed68d36624d046b4dd9"),
    ("Lung_Dx-A0001", "lungs/mask.arrow", "eff25a1f8c50b04f178b3a100590f979b9ab6b7ba99bfbefa4683eff85dd7bd6"),
    ("Lung_Dx-A0001", "lungs/mask.json", "0a2f38bf1b6c650f917c68d8b73f611ef54ad64d2e19a4fbcbd353548069a0ab"),
    ("Lung_Dx-A0001", "lungs/mask.png", "30d99556340a4e78a040726a850272a6c253f000d525bd66f7218c5ca4e2ca04"),
    ("LIDC-IDRI-0001", "hu/volume.arrow", "aba7c5b810dcb5ded813f69b22f8fbed8cca8a824e7c75dc43166883bfceef98"),
    ("LIDC-IDRI-0001", "iso/volume.arrow", "dbfc4de1ad73dfc5c3c477633823db785901e9a9eee802e5a8a1c5124e8e9a25"),
    ("LIDC-IDRI-0001", "lungs/volume.arrow", "7d4045204564d2c5ea5542d46c7644fb92047cbff7282c1250ea7babe773421e"),
    ("LIDC-IDRI-0001", "lungs/mask.arrow", "c87c06fea0ff4f86c9177d7dbaa8d0448cc18a323d537c22814bf0f067038ae5"),
    ("LIDC-IDRI-0001", "lungs/mask.json", "a28d5084fa3249abafb58890fe6aa1694595e3cbfa052b99ae20c5b6028fefc8"),
    ("LIDC-IDRI-0001", "lungs/mask.png", "14c61f83d072a675f78b294fd4650e289ec35f33fdbda9b8e55e2763f00261fb"),
    ("LIDC-IDRI-0002", "hu/volume.arrow", "0a9a2a763d32bf9fb134b5f5e543247e7a7c776a04f42af726304ce24d09c837"),
    ("LIDC-IDRI-0002", "iso/volume.arrow", "d7d48ed0088075fdc33ea29313ab5deb67f1fcbd83b659e9dc6094c27c96d50a"),
    ("LIDC-IDRI-0002", "lungs/volume.arrow", "54d242e077004f020959bc44aace07208b041d3bc7d5eb8bd0787af82b355e9a"),
    ("LIDC-IDRI-0002", "lungs/mask.arrow", "82c1373c1821ae43be49007a13672702657c4bdda05c803a41fdc4611a1cd436"),
    ("LIDC-IDRI-0002", "lungs/mask.json", "d2b3656004f763dfe7f5d1fa7504350f5f6256eb28226c47c26e3c8e204d2c74"),
    ("LIDC-IDRI-0002", "lungs/mask.png", "c3c286b36a8aa368475624732519e3a902137242a762f6be7ac5eaac2f63c31c"),
    ("ct-3slice", "hu/volume.arrow", "2a54e817abe515f57bb805f8ea35c7e7043cdf5dd54f74da1aaaa021c181e24c"),
    ("ct-3slice", "iso/volume.arrow", "d307fc3852c42d53b25061765551e13e68731801a98789c2e9213cda5e817962"),
    ("ct-3slice", "lungs/volume.arrow", "8d6e19cf830281976650fe0ec19020fd7e1dbd30501b16e7cb98ceb145f86d73"),
    ("ct-3slice", "lungs/mask.arrow", "98bb3275a309436c880a37a268817bbcc2eef749998ff1a2966045d5e1bf9446"),
    ("ct-3slice", "lungs/mask.json", "b81177931fc6fd8207ad6ccff9cc7d5c83144b3509879baf5a2f03c7f580d27c"),
    ("ct-3slice", "lungs/mask.png", "5024a61474b6e3a8693ba7326994c0a0b2e44aae2e748379b3d6e46ede78b5be"),
];

/// (series, `.arrow` file, blake3 of its `lungflow` metadata JSON followed
/// by its values as little-endian bytes), as the files written before issue
/// 31 (uncompressed) decode.
const DECODED: &[(&str, &str, &str)] = &[
    ("Lung_Dx-A0001", "hu/volume.arrow", "dd8de882591b7db4b06bb2c4e2f0a91d9c1515d763cb950f1f1c288695386931"),
    ("Lung_Dx-A0001", "iso/volume.arrow", "fde96e039f404b0b328e7f8e0174a609d55effcdf6b8045b8b553251efd52746"),
    ("Lung_Dx-A0001", "lungs/volume.arrow", "d7cea1b92e79f062cbd7eb1ed7ae2114538a5fd8ed454c430ee0f5ff77c26d4f"),
    ("Lung_Dx-A0001", "lungs/mask.arrow", "1803c6af443b82fd4a4d29bad7dfe4864ba72c5a01c4574ed4f7088f7e7a881c"),
    ("LIDC-IDRI-0001", "hu/volume.arrow", "80754c8f92b6c77a72862ebbb008fefcaf0cb510d5973dcf1d205a7364284cd4"),
    ("LIDC-IDRI-0001", "iso/volume.arrow", "2c44e211b32cbbc8c2bbb1d647be3fac90d273f770aa2a0783f49af8ef14433f"),
    ("LIDC-IDRI-0001", "lungs/volume.arrow", "538ad87d5efd755dce8815eaf09203687fd70c692d7be1338b475a3824256f73"),
    ("LIDC-IDRI-0001", "lungs/mask.arrow", "9873739de87d462425ffa4b08b6e5b57a84ddb52dffe38cd6381f3b7a79485a6"),
    ("LIDC-IDRI-0002", "hu/volume.arrow", "6aa2b6c37d6d3cac09b047fb09c575b61437c5a01e9b0ce2f071f11dec362d50"),
    ("LIDC-IDRI-0002", "iso/volume.arrow", "bcac7d4f6b2851114b1e9d3622ee02bb229836d9c10f70569ddd0bfd6f56da4a"),
    ("LIDC-IDRI-0002", "lungs/volume.arrow", "a592d17738696e32809bebabf3ea638d8865cb9eac43f06592841142c755a5fe"),
    ("LIDC-IDRI-0002", "lungs/mask.arrow", "13a49355750be4d8819b5820f8e3e10c14fca2b02a7f65a6f5f09167c6361530"),
    ("ct-3slice", "hu/volume.arrow", "a6eaa8489ee53baf9c5249f7bb5ecf88460c1975a9a76b771cd9ea47cc5d57eb"),
    ("ct-3slice", "iso/volume.arrow", "908b1df640995673e178cf62e1bed19104fb9c322bd43c3345b078f79581f7b5"),
    ("ct-3slice", "lungs/volume.arrow", "4484d2f4d567fcfc77a83d28fe7b9b3f90d642ef4f82ab17568587effc6974d5"),
    ("ct-3slice", "lungs/mask.arrow", "ce0ce738f25da86f5015cee584e00d9c3cfe3a9acc736f4831b36ffdf2a09188"),
];

/// blake3 of a slice file's metadata JSON and then its values, little-endian
/// (`hu` int16 in `volume.arrow`, `mask` uint8 in `mask.arrow`).
fn decoded_digest(path: &Path) -> String {
    let mut hash = blake3::Hasher::new();
    if path.ends_with("mask.arrow") {
        let (json, values) = read_rows::<UInt8Type>(path, "mask").unwrap();
        hash.update(json.as_bytes()).update(&values);
    } else {
        let (json, values) = read_rows::<Int16Type>(path, "hu").unwrap();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        hash.update(json.as_bytes()).update(&bytes);
    }
    hash.finalize().to_hex().to_string()
}

#[test]
fn every_real_chest_series_keeps_the_bytes_of_its_volumes_and_masks() {
    let p = Project::new();
    let mut changed = Vec::new();
    for series in ["Lung_Dx-A0001", "LIDC-IDRI-0001", "LIDC-IDRI-0002", "ct-3slice"] {
        let dicom = ct_data().join("chest").join(series);
        let steps = [
            ("hu_volume", format!("dicom={}", dicom.display()), "hu"),
            ("resample", format!("volume={series}/hu"), "iso"),
            ("lung_mask", format!("volume={series}/iso"), "lungs"),
        ];
        for (kind, input, out) in steps {
            let out = format!("{series}/{out}");
            let done = p.run(&["exec", kind, "--input", &input, "--out", &out]);
            assert!(done.status.success(), "exec {kind} on {series}: {}", String::from_utf8_lossy(&done.stderr));
        }
        for (_, file, want) in FILES.iter().filter(|(s, _, _)| *s == series) {
            let bytes = std::fs::read(p.path().join(series).join(file)).unwrap();
            let got = blake3::hash(&bytes).to_hex().to_string();
            if got != *want {
                changed.push(format!("{series}/{file}: {got}, was {want}"));
            }
        }
        for (_, file, want) in DECODED.iter().filter(|(s, _, _)| *s == series) {
            let got = decoded_digest(&p.path().join(series).join(file));
            if got != *want {
                changed.push(format!("{series}/{file} decoded: {got}, was {want}"));
            }
        }
    }
    assert!(changed.is_empty(), "outputs changed:\n{}", changed.join("\n"));
}
