#include "core/progress.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

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
  // Without a stream (ranks other than 0) nothing reaches stdout or stderr either, and the counts still run.
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  Progress p("x", 2, "units", nullptr, /*min_interval_s=*/0.0);
  p.advance(1, 10);
  p.advance(1, 10);
  p.finish();
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(out, "");
  EXPECT_EQ(err, "");
  EXPECT_EQ(p.tokens(), 20);
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(Progress::format_duration(65), "1:05");
  EXPECT_EQ(Progress::format_duration(3723), "1:02:03");
  EXPECT_EQ(Progress::format_duration(-1), "?");
}

}  // namespace moqa
