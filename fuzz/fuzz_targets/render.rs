//! `vault::render::parse` and `Template::render` never panic, and agree
//! exactly (output bytes, error kind and position, names) with a naive
//! implementation of the documented syntax (`vault_fuzz::reference_render`).
//! The lookup knows a few names whose values hold `$`, `$${`, newlines and
//! `${secrets.X}` (never re-expanded) and returns `None` for the rest.
//! Text without `$` renders to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault::render;
use vault_fuzz::{reference_names, reference_render};

const SECRETS: &[(&str, &[u8])] = &[
    ("A", b"alpha"),
    ("B", b"$"),
    ("TOKEN_1", b"t0k$n$${x}$$"),
    ("MULTI", b"line1\nline2\r\n${secrets.A}\n"),
    ("NESTED", b"${secrets.NESTED}${secrets.A}"),
    ("EMPTY", b""),
    ("BIN", b"\x00\xff\xfe$"),
    ("_", b"underscore"),
];

fn lookup(name: &str) -> Option<&'static [u8]> {
    SECRETS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fuzz_target!(|data: &[u8]| {
    let owned = |n: &str| lookup(n).map(<[u8]>::to_vec);
    let expected = reference_render(data, &owned);
    let t = match render::parse(data) {
        Ok(t) => t,
        Err(e) => {
            assert_eq!(Err(e.clone()), expected, "parse error differs");
            // Located at the `$` of the placeholder.
            let line = data.split(|&b| b == b'\n').nth(e.line - 1).expect("line");
            assert_eq!(line.get(e.column - 1), Some(&b'$'));
            return;
        }
    };
    let names = reference_names(data);
    assert_eq!(t.names(), names);
    for (name, line, column) in t.references() {
        assert_eq!(t.position(name), Some((line, column)));
    }
    let out = t.render(&lookup);
    match (&out, &expected) {
        (Ok(o), Ok(x)) => {
            assert!(o.as_slice() == x.as_slice(), "rendered output differs");
            assert_eq!(o.len(), o.capacity(), "output buffer not exactly sized");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "render error differs"),
        _ => panic!(
            "render and reference disagree: {:?} vs {:?}",
            out.as_ref().map(|o| o.len()),
            expected.as_ref().map(|o| o.len())
        ),
    }
    // Every name known: rendering succeeds. No name known: fails iff the
    // template references one.
    assert!(t.render(&|_| Some(&b"V"[..])).is_ok());
    assert_eq!(t.render(&|_| None).is_err(), !names.is_empty());
    if !data.contains(&b'$') {
        assert!(t.render(&|_| None).expect("no placeholders").as_slice() == data);
    }
});
