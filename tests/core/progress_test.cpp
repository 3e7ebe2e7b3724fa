#include "core/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace moqa {

TEST(Progress, ReportsCountsAndFinalLine) {
  std::ostringstream out;
  Progress p("calibrate wiki", 4, "windows", &out, /*min_interval_s=*/0.0);
  p.advance(2, 100);
  p.advance(2, 100);
  p.finish();
  const std::string text = out.str();
  EXPECT_NE(text.find("calibrate wiki: 2/4 windows (50%)"), std::string::npos) << text;
  EXPECT_NE(text.find("ETA"), std::string::npos);
  EXPECT_NE(text.find("done, 4 windows"), std::string::npos) << text;
  EXPECT_EQ(p.tokens(), 200);
}

TEST(Progress, DisabledWritesNothing) {
  Progress p("x", 1, "units", nullptr);
  p.advance(1);
  p.finish();
  SUCCEED();
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(Progress::format_duration(65), "1:05");
  EXPECT_EQ(Progress::format_duration(3723), "1:02:03");
  EXPECT_EQ(Progress::format_duration(-1), "?");
}

}  // namespace moqa
