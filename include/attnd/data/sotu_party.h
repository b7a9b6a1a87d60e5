// A second text-classification corpus from the State of the Union addresses (the @stdlib
// datasets-sotu package of english_corpus.h): which party the speaker belonged to, read from a
// passage of the address.
//
// Labels: 0 = democratic (files *_d.txt, 90 addresses), 1 = republican (*_r.txt, 92). The other
// parties of the package (Democratic-Republican, Federalist, Whig, National Union, none: 51
// addresses, all before 1869) are left out. The texts have no paragraph breaks, so a passage is
// a run of whole sentences of at least passage_words words (a sentence ends with a word ending in
// '.', '!' or '?', closing quotes and brackets aside), cut early at 2 · passage_words; a last
// passage shorter than passage_words / 2 is dropped.
//
// Splits are by address — no address gives passages to two splits — stratified by party.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnd/data/text_dataset.h"

namespace attnd {

const std::vector<std::string>& sotu_party_label_names();  // {"democratic", "republican"}

struct PartyAddress {
  std::string name;  // e.g. "1990_george_bush_r"
  int64_t label = 0;
  std::vector<std::string> passages;
};

// Cuts `text` into passages as described above. InputError for passage_words < 2.
std::vector<std::string> sentence_passages(const std::string& text, int64_t passage_words);

// The Democratic and Republican addresses under `dir` (english_corpus's folder), in corpus order.
std::vector<PartyAddress> load_sotu_party(const std::string& dir, int64_t passage_words = 60);

struct TextSplits {
  std::vector<TextExample> train, val, test;
};

// Addresses split with stratified_split(address labels, fractions, seed); their passages, in
// corpus order, make the three splits.
TextSplits split_party_addresses(const std::vector<PartyAddress>& addresses, double val_fraction,
                                 double test_fraction, uint64_t seed);

}  // namespace attnd
