#include "publish/common/key_order_gate.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald::publish {
namespace {

TEST(KeyOrderGateTest, AClosedKeyStaysClosedUntilResumed) {
  KeyOrderGate gate;
  EXPECT_TRUE(gate.Admit("a"));
  gate.Close("a");
  EXPECT_FALSE(gate.Admit("a"));
  EXPECT_TRUE(gate.Admit("b"));
  gate.Close("a");  // twice is once
  EXPECT_EQ(gate.closed(), 1u);
  std::vector<std::string> keys = {"b", "a"};
  gate.Resume(keys);
  EXPECT_TRUE(gate.Admit("a"));
  EXPECT_EQ(gate.closed(), 0u);
}

TEST(KeyOrderGateTest, TheEmptyKeyIsNeverClosed) {
  KeyOrderGate gate;
  gate.Close("");
  EXPECT_TRUE(gate.Admit(""));
  EXPECT_EQ(gate.closed(), 0u);
}

}  // namespace
}  // namespace herald::publish
