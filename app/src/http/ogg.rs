//! Just enough of an Ogg writer to stream a Vorbis channel's own packets to a player: pages of
//! one logical stream (RFC 3533), the three Vorbis headers first.

/// CRC-32 of Ogg pages: polynomial 0x04C11DB7, not reflected, no final xor.
fn crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &byte in data {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Writes the pages of one logical stream.
#[derive(Debug)]
pub struct OggWriter {
    serial: u32,
    page: u32,
}

impl OggWriter {
    /// A stream with this serial number.
    pub fn new(serial: u32) -> Self {
        Self { serial, page: 0 }
    }

    /// One page holding `packets` whole (at most 255 lacing values), its granule position
    /// `granule` (the frames decoded by the end of its last packet).
    pub fn page(&mut self, packets: &[&[u8]], granule: u64) -> Vec<u8> {
        let mut lacing = Vec::new();
        for p in packets {
            lacing.extend(std::iter::repeat_n(255u8, p.len() / 255));
            lacing.push((p.len() % 255) as u8);
        }
        let mut out =
            Vec::with_capacity(27 + lacing.len() + packets.iter().map(|p| p.len()).sum::<usize>());
        out.extend_from_slice(b"OggS");
        out.push(0);
        out.push(if self.page == 0 { 0x02 } else { 0 });
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&self.serial.to_le_bytes());
        out.extend_from_slice(&self.page.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.push(lacing.len() as u8);
        out.extend_from_slice(&lacing);
        for p in packets {
            out.extend_from_slice(p);
        }
        let sum = crc(&out);
        out[22..26].copy_from_slice(&sum.to_le_bytes());
        self.page += 1;
        out
    }

    /// Pages for `packets`, as many as the lacing limit needs; the granule position of each
    /// page is `granule` plus the frames of the packets up to its end.
    pub fn pages(&mut self, packets: &[(&[u8], u64)], mut granule: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut group: Vec<&[u8]> = Vec::new();
        let mut laces = 0;
        for (data, frames) in packets {
            let need = data.len() / 255 + 1;
            if laces + need > 255 && !group.is_empty() {
                out.extend(self.page(&group, granule));
                group.clear();
                laces = 0;
            }
            group.push(data);
            laces += need;
            granule += frames;
        }
        if !group.is_empty() {
            out.extend(self.page(&group, granule));
        }
        out
    }
}

/// The three Vorbis header packets from a setup as symphonia gives it (the identification
/// header, 30 bytes, then the setup header), with an empty comment header between them.
pub fn vorbis_headers(extra: &[u8]) -> Option<[Vec<u8>; 3]> {
    if extra.len() <= 30 || &extra[..7] != b"\x01vorbis" || extra[30] != 5 {
        return None;
    }
    let mut comment = b"\x03vorbis".to_vec();
    let vendor = b"Busker";
    comment.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    comment.extend_from_slice(vendor);
    comment.extend_from_slice(&0u32.to_le_bytes());
    comment.push(1);
    Some([extra[..30].to_vec(), comment, extra[30..].to_vec()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_oggs() {
        // A page of the Vorbis fixture, its CRC field zeroed, hashes to what the file says.
        let file = std::fs::read(busker_core::test_utils::audio_fixture(
            "opsound_manolo_camp-morning_coffee.tagged.ogg",
        ))
        .unwrap();
        let segments = usize::from(file[26]);
        let len = 27
            + segments
            + file[27..27 + segments]
                .iter()
                .map(|&b| usize::from(b))
                .sum::<usize>();
        let mut page = file[..len].to_vec();
        let said = u32::from_le_bytes([page[22], page[23], page[24], page[25]]);
        page[22..26].copy_from_slice(&[0; 4]);
        assert_eq!(crc(&page), said);
    }
}
