//! Reading and writing pcap files of Ethernet frames.

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Duration;

fn to_io(e: pcap_file::PcapError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Writes `frames` as an Ethernet pcap, one microsecond apart.
pub fn write(path: &Path, frames: &[Vec<u8>]) -> io::Result<()> {
    let mut w = PcapWriter::new(File::create(path)?).map_err(to_io)?;
    for (i, f) in frames.iter().enumerate() {
        let len = u32::try_from(f.len()).map_err(|_| io::Error::other("frame too long"))?;
        w.write_packet(&PcapPacket::new(Duration::from_micros(i as u64), len, f))
            .map_err(to_io)?;
    }
    Ok(())
}

/// Reads every frame of a pcap file.
pub fn read(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut r = PcapReader::new(File::open(path)?).map_err(to_io)?;
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.map_err(to_io)?.data.into_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_frames() {
        let dir = std::env::temp_dir().join(format!("rvs-perf-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.pcap");
        let frames = vec![vec![1u8; 60], (0..=255u8).collect(), vec![]];
        super::write(&path, &frames).unwrap();
        assert_eq!(super::read(&path).unwrap(), frames);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
