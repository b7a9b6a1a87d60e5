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

}  // namespace attnd
