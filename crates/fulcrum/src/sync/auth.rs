//! HMAC-SHA256 over a sync datagram (`set synckey`): the trailer covers every byte before it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use fulcrum_wire::sync::{Datagram, MAC_LEN};

fn keyed(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so the Err arm cannot happen; it is not a panic either.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => Hmac::<Sha256>::new(&Default::default()),
    }
}

/// Fills the zeroed trailer the sender left at the end of `datagram`.
pub fn sign(key: &[u8], datagram: &mut [u8]) {
    let Some(split) = datagram.len().checked_sub(MAC_LEN) else {
        return;
    };
    let (signed, trailer) = datagram.split_at_mut(split);
    let mut mac = keyed(key);
    mac.update(signed);
    trailer.copy_from_slice(&mac.finalize().into_bytes());
}

/// True when the datagram is as the key requires: with a key, a trailer that verifies (in
/// constant time); without one, no trailer at all.
pub fn verify(key: Option<&[u8]>, datagram: &Datagram<&[u8]>) -> bool {
    match (key, datagram.mac()) {
        (None, None) => true,
        (Some(key), Some(trailer)) => {
            let mut mac = keyed(key);
            mac.update(datagram.signed_part());
            mac.verify_slice(trailer).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_wire::sync::{Kind, Repr};

    #[test]
    fn signed_datagrams_verify_only_with_their_key() {
        let repr = Repr {
            kind: Kind::Update,
            node: 1,
            sequence: 2,
            sent_at: 3,
            request: 4,
            cookie: 5,
            entries: Vec::new(),
            with_mac: true,
        };
        let mut bytes = Vec::new();
        repr.emit(&mut bytes).unwrap();
        sign(b"secret", &mut bytes);
        let datagram = Datagram::new_checked(&bytes[..]).unwrap();
        assert!(verify(Some(b"secret"), &datagram));
        assert!(!verify(Some(b"other"), &datagram));
        assert!(!verify(None, &datagram));
        let mut tampered = bytes.clone();
        tampered[13] ^= 1;
        let datagram = Datagram::new_checked(&tampered[..]).unwrap();
        assert!(!verify(Some(b"secret"), &datagram));
        // Every replay field is covered: sent-at, request id, cookie.
        let mut tampered = bytes.clone();
        tampered[23] ^= 1;
        let datagram = Datagram::new_checked(&tampered[..]).unwrap();
        assert!(!verify(Some(b"secret"), &datagram));
        let mut tampered = bytes.clone();
        tampered[31] ^= 1;
        let datagram = Datagram::new_checked(&tampered[..]).unwrap();
        assert!(!verify(Some(b"secret"), &datagram));
    }
}
