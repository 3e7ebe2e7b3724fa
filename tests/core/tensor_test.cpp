#include "core/error.h"
#include "core/tensor.h"

#include <gtest/gtest.h>

namespace moqa {

TEST(Tensor, ShapeAndRows) {
  Tensor t({2, 3}, 1.5f);
  EXPECT_EQ(t.size(), 6);
  EXPECT_EQ(t.dim(-1), 3);
  t.row(1)[2] = 7.0f;
  EXPECT_EQ(t.data[5], 7.0f);
  EXPECT_EQ(to_string(t.shape), "[2, 3]");
}

TEST(Tensor, ValueCountMustMatchShape) {
  EXPECT_THROW(Tensor({2, 2}, std::vector<float>{1, 2, 3}), Error);
  EXPECT_THROW(element_count({3, -1}), Error);
}

}  // namespace moqa
