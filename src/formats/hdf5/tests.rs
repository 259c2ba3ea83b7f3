//! The HDF5 reader on hostile input; real h5py files are checked in tests/framework.rs.

use super::reader;

#[test]
fn superblocks_are_found_behind_user_blocks() {
    let mut data = vec![0u8; 2048 + 8];
    data[1024..1032].copy_from_slice(b"\x89HDF\r\n\x1a\n");
    assert_eq!(reader::find_superblock(&data), Some(1024));
    data[1024] = 0;
    assert_eq!(reader::find_superblock(&data), None);
}

#[test]
fn truncated_and_garbage_files_never_panic() {
    let mut base = b"\x89HDF\r\n\x1a\n".to_vec();
    base.extend((0..600u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    for cut in 8..base.len() {
        let _ = reader::read(&base[..cut]);
    }
    for version in 0..4u8 {
        let mut d = base.clone();
        d[8] = version;
        d[13] = 8;
        d[14] = 8;
        let _ = reader::read(&d);
    }
}

#[test]
fn a_cycle_of_groups_ends() {
    // Superblock v2 whose root object header (v1) holds a hard link back to itself.
    let mut f = b"\x89HDF\r\n\x1a\n".to_vec();
    f.extend([2, 8, 8, 0]);
    f.extend(0u64.to_le_bytes()); // base
    f.extend(u64::MAX.to_le_bytes()); // extension
    f.extend(200u64.to_le_bytes()); // eof
    let root = 48u64;
    f.extend(root.to_le_bytes());
    f.extend([0; 4]); // checksum (not verified)
    assert_eq!(f.len(), 48);
    let name = b"self";
    let mut link = vec![1, 0, name.len() as u8];
    link.extend(name);
    link.extend(root.to_le_bytes());
    while link.len() % 8 != 0 {
        link.push(0);
    }
    let mut msg = vec![6, 0];
    msg.extend((link.len() as u16).to_le_bytes());
    msg.extend([0, 0, 0, 0]);
    msg.extend(&link);
    f.extend([1, 0, 1, 0]);
    f.extend(1u32.to_le_bytes());
    f.extend((msg.len() as u32).to_le_bytes());
    f.extend([0; 4]);
    f.extend(&msg);
    let file = reader::read(&f).unwrap();
    assert_eq!(file.groups, 1);
    assert_eq!(file.links, 1);
}
