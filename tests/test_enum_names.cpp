// core/enum_names.h: one table parses and prints an enum; the error names the key and every
// choice. Also the tables of the enums that recipes name.
#include <gtest/gtest.h>

#include "attnd/core/enum_names.h"
#include "attnd/distill/distiller.h"
#include "attnd/methods/recipe.h"
#include "attnd/methods/transfer.h"
#include "test_utils.h"

namespace {

using namespace attnd;
using attnd::test::error_of;

enum class Colour { kRed, kGreen, kBlue };
constexpr EnumName<Colour> kColours[] = {
    {Colour::kRed, "red"}, {Colour::kGreen, "green"}, {Colour::kBlue, "blue"}};
constexpr EnumName<bool> kOnOff[] = {{false, "off"}, {true, "on"}};
constexpr EnumName<int> kOne[] = {{7, "seven"}};

TEST(EnumNames, ParseAndPrintFromOneTable) {
  EXPECT_EQ(parse_enum(kColours, "green", "paint.colour"), Colour::kGreen);
  EXPECT_EQ(enum_name(kColours, Colour::kBlue), "blue");
  for (const auto& entry : kColours)
    EXPECT_EQ(parse_enum(kColours, enum_name(kColours, entry.value), "k"), entry.value);
  EXPECT_TRUE(parse_enum(kOnOff, "on", "k"));
  EXPECT_EQ(enum_choices(kColours), "red, green or blue");
  EXPECT_EQ(enum_choices(kOnOff), "off or on");
  EXPECT_EQ(enum_choices(kOne), "seven");
}

TEST(EnumNames, ErrorsNameTheKeyAndTheChoices) {
  EXPECT_EQ(error_of([] { parse_enum(kColours, "Green", "paint.colour"); }),
            "paint.colour = 'Green' (expected red, green or blue)");
  EXPECT_EQ(error_of([] { parse_enum(kOnOff, "", "k"); }), "k = '' (expected off or on)");
  EXPECT_THROW(enum_name(kOne, 8), Error);  // a value without a name is a bug, not bad input
}

TEST(EnumNames, TheRecipesEnums) {
  EXPECT_EQ(parse_transfer_mode("copy_k"), TransferMode::kCopyK);
  EXPECT_EQ(to_string(TransferMode::kCopyQ), "copy_q");
  EXPECT_EQ(error_of([] { parse_transfer_mode("paste"); }),
            "transfer.mode = 'paste' (expected distill, copy, copy_q, copy_k or copy_v)");
  EXPECT_EQ(parse_distill_loss("hidden_mse"), DistillLoss::kHiddenMSE);
  EXPECT_EQ(to_string(DistillLoss::kAttnKL), "kl");
  EXPECT_EQ(error_of([] { parse_distill_loss("l2", "distill.loss"); }),
            "distill.loss = 'l2' (expected soft_ce, kl, mse, hidden_mse or nad)");
  EXPECT_EQ(trainer_options(Config::load(recipe_schema(false), "", {"run.progress=bar"})).progress,
            Progress::Style::kBar);
  EXPECT_EQ(error_of([] { trainer_options(Config::load(recipe_schema(false), "", {"run.progress=fancy"})); }),
            "run.progress = 'fancy' (expected auto, bar, lines or quiet)");
}

}  // namespace
