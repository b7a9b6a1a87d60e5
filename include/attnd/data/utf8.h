// UTF-8 decoding and repair for text read from files of unknown quality (e-mails, corpora).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace attnd {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Decodes the code point starting at s[pos] and advances pos past it. An invalid or truncated
// sequence (overlong forms and surrogates included) consumes one byte and yields U+FFFD, so every
// byte string decodes and decoding always makes progress.
char32_t next_code_point(std::string_view s, size_t& pos);

// Appends cp as UTF-8 (code points above U+10FFFF or surrogates become U+FFFD).
void append_utf8(std::string& out, char32_t cp);

bool is_valid_utf8(std::string_view s);

// s unchanged when it is valid UTF-8; otherwise every byte read as Latin-1 (ISO-8859-1). Mail of
// the SpamAssassin era that is not UTF-8 is mostly Latin-1 or Windows-1252, so this keeps the
// letters readable instead of dropping them.
std::string to_valid_utf8(std::string_view s);

// ---- Unicode character properties (utf8proc, Debian's libutf8proc) ------------------------------
// As Hugging Face's tokenizers (Rust) test them: char::is_whitespace, the unicode_categories
// crate, char::to_lowercase and unicode-normalization's NFD. The Unicode version is utf8proc's.

// The White_Space property (Rust's char::is_whitespace and Oniguruma's \s): U+0009-000D, U+0020,
// U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000.
bool is_white_space(char32_t cp);
bool is_letter(char32_t cp);           // general category L* (Lu Ll Lt Lm Lo)
bool is_number(char32_t cp);           // N* (Nd Nl No)
bool is_punctuation(char32_t cp);      // P* (Pc Pd Ps Pe Pi Pf Po)
bool is_nonspacing_mark(char32_t cp);  // Mn
// Cc, Cf, Co and Cs (not Cn: unassigned code points are kept, as HF's BertNormalizer keeps them).
bool is_other(char32_t cp);
// The full lowercase mapping (Rust's char::to_lowercase): U+0130 becomes i + U+0307, every other
// code point its simple lowercase. Appends to out.
void append_lowercase(std::u32string& out, char32_t cp);
// The canonical decomposition of cp (NFD of a single code point, Hangul syllables included).
void append_nfd(std::u32string& out, char32_t cp);

}  // namespace attnd
