//! The runnable examples live in `src/bin/`. This library only runs the README's Rust snippets
//! as doc tests, so the README cannot drift from the code.

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeSnippets;
