//! `tlv`: the strict BER-TLV module, [`applet::tlv`], on any bytes.

use applet::tlv::{self, Node, Tag};

/// Any bytes as BER-TLV. Properties: [`tlv::decode`] and the one-level [`tlv::iter`] agree on
/// whether the input is well formed and on its top-level objects; [`tlv::find`] returns the first
/// object [`tlv::iter`] yields; re-encoding the decoded tree with the module's encoder (tags,
/// [`tlv::write_len`], templates) decodes to the same tree, is never longer than the input, and
/// equals the input when every length was written in its shortest form.
pub fn tlv(data: &[u8]) {
    let top: Result<Vec<_>, _> = tlv::iter(data).collect();
    let tree = tlv::decode(data);
    match (&top, &tree) {
        (Ok(top), Ok(nodes)) => {
            let roots: Vec<(Tag, &[u8])> =
                nodes.iter().filter(|n| n.depth == 0).map(|n| (n.tag, n.value)).collect();
            let top: Vec<(Tag, &[u8])> = top.iter().map(|t| (t.tag, t.value)).collect();
            assert_eq!(roots, top, "decode and iter disagree on the top level");
            if let Some(first) = top.first() {
                assert_eq!(tlv::find(data, first.0).unwrap(), Some(first.1));
                if top.len() == 1 {
                    assert_eq!(tlv::parse_single(data).map(|t| (t.tag, t.value)), Ok(*first));
                } else {
                    assert!(matches!(tlv::parse_single(data), Err(tlv::TlvError::Trailing { .. })));
                }
            }
            let again = encode(nodes);
            assert!(again.len() <= data.len());
            let reread = tlv::decode(&again).expect("re-encoded TLV decodes");
            assert_eq!(shape(&reread), shape(nodes), "re-encoding changed the tree");
            if minimal_lengths(data, nodes) {
                assert_eq!(again, data, "minimal-length TLV re-encodes differently");
            }
        }
        // decode reads everything iter reads, and the nested templates besides.
        (Err(_) | Ok(_), Err(_)) => {}
        (Err(e), Ok(_)) => panic!("iter refuses ({e:?}) what decode accepts"),
    }
    // Tag::from_hex on text derived from the input: never a panic, and what it accepts prints back.
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(tag) = Tag::from_hex(text)
    {
        assert_eq!(Tag::from_hex(&tag.to_string()), Ok(tag));
    }
}

/// The tree without offsets: depth, tag, and the value of primitive objects.
fn shape<'a>(nodes: &[Node<'a>]) -> Vec<(usize, Tag, Option<&'a [u8]>)> {
    nodes
        .iter()
        .map(|n| (n.depth, n.tag, (!n.tag.is_constructed() || n.value.is_empty()).then_some(n.value)))
        .collect()
}

/// Re-encodes a decoded tree with shortest lengths, iteratively (no recursion on nesting depth).
fn encode(nodes: &[Node<'_>]) -> Vec<u8> {
    // Open templates: (tag, encoded children so far); the bottom entry is the top level.
    let mut stack: Vec<(Option<Tag>, Vec<u8>)> = vec![(None, Vec::new())];
    let close = |stack: &mut Vec<(Option<Tag>, Vec<u8>)>| {
        let (tag, body) = stack.pop().expect("an open template");
        let parent = &mut stack.last_mut().expect("the top level").1;
        tag.expect("a template has a tag").write(parent);
        tlv::write_len(body.len(), parent);
        parent.extend_from_slice(&body);
    };
    for node in nodes {
        while stack.len() > node.depth + 1 {
            close(&mut stack);
        }
        if node.tag.is_constructed() && !node.value.is_empty() {
            stack.push((Some(node.tag), Vec::new()));
        } else {
            let out = &mut stack.last_mut().expect("the top level").1;
            node.tag.write(out);
            tlv::write_len(node.value.len(), out);
            out.extend_from_slice(node.value);
        }
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    stack.pop().map(|(_, b)| b).unwrap_or_default()
}

/// Whether every length field of the input is in its shortest form (then re-encoding is exact).
fn minimal_lengths(data: &[u8], nodes: &[Node<'_>]) -> bool {
    nodes.iter().all(|n| {
        let header = n.value.as_ptr() as usize - data.as_ptr() as usize - n.offset;
        let mut want = Vec::new();
        n.tag.write(&mut want);
        tlv::write_len(n.value.len(), &mut want);
        header == want.len()
    })
}
