// Raw RFC 822 / MIME e-mail -> the text a classifier should see.
//
// Kept: the Subject (RFC 2047 encoded words decoded) and the readable body. Dropped: every other
// header (routing headers name the corpus's own mail servers, which would let a classifier learn
// the collection instead of the content), attachments and other non-text parts. The body is
// decoded crudely but cheaply: quoted-printable and base64 transfer encodings, multipart bodies
// (multipart/alternative keeps its text/plain part when it has one), HTML reduced to its text
// (tags, comments, <script> and <style> dropped; common entities decoded); bytes that are not
// UTF-8 are read as Latin-1. Charsets other than UTF-8 / Latin-1 are not converted.
#pragma once

#include <string>
#include <string_view>

namespace attnd {

// "<subject>\n<body>", each with whitespace runs collapsed to one space and trimmed. Always valid
// UTF-8. A message without a header block is treated as all body.
std::string email_to_text(std::string_view raw);

// The pieces, exposed for tests and other mail sources.
std::string decode_quoted_printable(std::string_view s);
std::string decode_base64(std::string_view s);  // ignores characters outside the alphabet
std::string html_to_text(std::string_view html);
std::string decode_encoded_words(std::string_view header);  // =?charset?Q|B?...?=

}  // namespace attnd
