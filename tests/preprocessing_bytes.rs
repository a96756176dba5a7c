//! The faster preprocessing of issue 33 changed how `hu_volume`, `resample`
//! and `lung_mask` compute, not what: on every real chest series each of
//! their output files keeps the bytes it had before (the binary of 53903a4,
//! `lung_mask` version 3), so the kinds keep their versions and every cache
//! entry stays valid. The digests below are blake3 of those files.

mod common;

use common::*;

/// (series, file under the series' work folder, blake3 of its bytes before issue 33).
const BEFORE: &[(&str, &str, &str)] = &[
    ("Lung_Dx-A0001", "hu/volume.arrow", "151f977e3c5a000029a37575fc67650b957580faead1dbfa8556429109a74800"),
    ("Lung_Dx-A0001", "iso/volume.arrow", "83f670a6973dc38cd99e69b2ce0252f7b2e4508b36873f748f5115bd543f62a0"),
    ("Lung_Dx-A0001", "lungs/volume.arrow", "5bceef22a1592d59ee14734102530bb74068d3cf6b1cd0de8b5c2d42a4e962a0"),
    ("Lung_Dx-A0001", "lungs/mask.arrow", "248c318d63a4d577173c08d7d47d58f85d84959055ee53ffc00db9e9012c2dc6"),
    ("Lung_Dx-A0001", "lungs/mask.json", "0a2f38bf1b6c650f917c68d8b73f611ef54ad64d2e19a4fbcbd353548069a0ab"),
    ("Lung_Dx-A0001", "lungs/mask.png", "30d99556340a4e78a040726a850272a6c253f000d525bd66f7218c5ca4e2ca04"),
    ("LIDC-IDRI-0001", "hu/volume.arrow", "205d54dc0db741301d86ab19bfeb53c8c4b0ef452c826067772cff52732a3205"),
    ("LIDC-IDRI-0001", "iso/volume.arrow", "e53faabb9950eccd9af1c179088c7b4623b8514116afd703564443660f427e49"),
    ("LIDC-IDRI-0001", "lungs/volume.arrow", "a311f74097665df9c33663217e16338cc4d893ffa9ea3f02f91390dd33a09051"),
    ("LIDC-IDRI-0001", "lungs/mask.arrow", "3c619838b19c54389571951227cc65936b7722fa2fbfc879732e34349df70d7b"),
    ("LIDC-IDRI-0001", "lungs/mask.json", "a28d5084fa3249abafb58890fe6aa1694595e3cbfa052b99ae20c5b6028fefc8"),
    ("LIDC-IDRI-0001", "lungs/mask.png", "14c61f83d072a675f78b294fd4650e289ec35f33fdbda9b8e55e2763f00261fb"),
    ("LIDC-IDRI-0002", "hu/volume.arrow", "887533bd785f8575b5d07cf2db62882db84839fd56edeb48dec766396f292f3c"),
    ("LIDC-IDRI-0002", "iso/volume.arrow", "e3c50ada63681b9c75049eff413c520f1ff530b47e342d91b7c0a7cd9c2dcfc3"),
    ("LIDC-IDRI-0002", "lungs/volume.arrow", "498d2fb44cafbf060c19d5cb23a7dafb0f92bc505f2bfc52a406ca4397de78ef"),
    ("LIDC-IDRI-0002", "lungs/mask.arrow", "8a0960d3f07020c621b0bb88ed62f7a334067e0d6009c37e60090395dbaa8ee4"),
    ("LIDC-IDRI-0002", "lungs/mask.json", "d2b3656004f763dfe7f5d1fa7504350f5f6256eb28226c47c26e3c8e204d2c74"),
    ("LIDC-IDRI-0002", "lungs/mask.png", "c3c286b36a8aa368475624732519e3a902137242a762f6be7ac5eaac2f63c31c"),
    ("ct-3slice", "hu/volume.arrow", "8f621603eb7e4de55dfec045907978e4ed20f73bb5f3b427c026f969c5cc564c"),
    ("ct-3slice", "iso/volume.arrow", "d291e5b25aeb2f3a5df08b9cf17684b137a88ae8a3a5f3876a1dc643e8266d8a"),
    ("ct-3slice", "lungs/volume.arrow", "203be33610032fc4645cc37b2fedb8825838f0df3bda372d03ad0fa768b4b695"),
    ("ct-3slice", "lungs/mask.arrow", "2ca5de6f55e92ab5b88bab6b012dc6d8811848213d40a1dcf22faab765f6678a"),
    ("ct-3slice", "lungs/mask.json", "b81177931fc6fd8207ad6ccff9cc7d5c83144b3509879baf5a2f03c7f580d27c"),
    ("ct-3slice", "lungs/mask.png", "5024a61474b6e3a8693ba7326994c0a0b2e44aae2e748379b3d6e46ede78b5be"),
];

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
        for (_, file, want) in BEFORE.iter().filter(|(s, _, _)| *s == series) {
            let bytes = std::fs::read(p.path().join(series).join(file)).unwrap();
            let got = blake3::hash(&bytes).to_hex().to_string();
            if got != *want {
                changed.push(format!("{series}/{file}: {got}, was {want}"));
            }
        }
    }
    assert!(changed.is_empty(), "outputs changed:\n{}", changed.join("\n"));
}
