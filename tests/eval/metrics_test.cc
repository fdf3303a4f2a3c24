#include "funnel/metrics.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace funnel::metrics {
namespace {

constexpr double kEps = 1e-9;

using Ranked = std::vector<std::string>;

// ---------------------------------------------------------------- nDCG

TEST(NdcgTest, GradedLabels) {
  const Judgments judged = {{"a", 3}, {"b", 1}, {"c", 2}};
  const Ranked ranked = {"a", "x", "b"};
  // DCG  = (2^3-1)/log2(2) + 0/log2(3) + (2^1-1)/log2(4) = 7 + 0 + 0.5 = 7.5
  // IDCG (grades 3,2,1) = 7/log2(2) + 3/log2(3) + 1/log2(4)
  //      = 7 + 1.8927892607 + 0.5 = 9.3927892607
  // nDCG = 7.5 / 9.3927892607 = 0.7984848581
  EXPECT_NEAR(ndcg_at_k(ranked, judged, 3), 0.7984848580994974, kEps);
  // Nothing below rank 3, so k = 10 gives the same value.
  EXPECT_NEAR(ndcg_at_k(ranked, judged, 10), 0.7984848580994974, kEps);
}

TEST(NdcgTest, PerfectRankingIsOne) {
  const Judgments judged = {{"a", 3}, {"b", 2}, {"c", 0}};
  const Ranked ranked = {"a", "b", "c"};
  // DCG = IDCG = 7/1 + 3/log2(3)  -> 1
  EXPECT_NEAR(ndcg_at_k(ranked, judged, 10), 1.0, kEps);
}

TEST(NdcgTest, IdealUsesJudgedDocsNotRetrieved) {
  const Judgments judged = {{"a", 1}, {"b", 1}};
  const Ranked ranked = {"a"};  // b is relevant but never retrieved
  // DCG  = (2^1-1)/log2(2) = 1
  // IDCG = 1/log2(2) + 1/log2(3) = 1 + 0.6309297536 = 1.6309297536
  // nDCG = 1 / 1.6309297536 = 0.6131471928
  EXPECT_NEAR(ndcg_at_k(ranked, judged, 10), 0.6131471927654584, kEps);
}

TEST(NdcgTest, CutOffAtK) {
  const Judgments judged = {{"a", 1}, {"b", 1}};
  const Ranked ranked = {"x", "a", "b"};
  // k = 1: DCG@1 = 0 (x unjudged)  -> 0
  EXPECT_NEAR(ndcg_at_k(ranked, judged, 1), 0.0, kEps);
  // k = 2: DCG@2 = 0 + 1/log2(3) = 0.6309297536
  //        IDCG@2 = 1 + 1/log2(3) = 1.6309297536
  //        nDCG = 0.6309297536 / 1.6309297536 = 0.3868528072
  EXPECT_NEAR(ndcg_at_k(ranked, judged, 2), 0.38685280723454163, kEps);
}

TEST(NdcgTest, IdealIsCutAtKToo) {
  const Judgments judged = {{"a", 3}, {"b", 1}};
  const Ranked ranked = {"a", "b"};
  // k = 1: DCG@1 = 7/1 = 7; IDCG@1 = 7/1 = 7 (b's gain lies beyond k) -> 1
  EXPECT_NEAR(ndcg_at_k(ranked, judged, 1), 1.0, kEps);
}

TEST(NdcgTest, EmptyRankedList) {
  const Judgments judged = {{"a", 2}};
  // DCG = 0 (nothing retrieved), IDCG = 3  -> 0
  EXPECT_NEAR(ndcg_at_k(Ranked{}, judged, 10), 0.0, kEps);
}

TEST(NdcgTest, NoRelevantDocIsZero) {
  const Judgments judged = {{"a", 0}, {"b", 0}};
  const Ranked ranked = {"a", "b"};
  // IDCG = 0: the contract says nDCG = 0, not NaN.
  EXPECT_NEAR(ndcg_at_k(ranked, judged, 10), 0.0, kEps);
  EXPECT_NEAR(ndcg_at_k(ranked, Judgments{}, 10), 0.0, kEps);
}

// ----------------------------------------------------------------- MAP

TEST(AveragePrecisionTest, RelevantNeverRetrieved) {
  const Judgments judged = {{"a", 1}, {"b", 2}, {"c", 1}, {"d", 0}};
  const Ranked ranked = {"a", "d", "b", "x"};  // c never retrieved
  // hits at ranks 1 and 3: P@1 = 1/1, P@3 = 2/3; 3 relevant docs in total
  // AP = (1 + 2/3) / 3 = 5/9
  EXPECT_NEAR(average_precision(ranked, judged), 5.0 / 9.0, kEps);
}

TEST(AveragePrecisionTest, CutOffAtK) {
  const Judgments judged = {{"a", 1}, {"b", 2}, {"c", 1}, {"d", 0}};
  const Ranked ranked = {"a", "d", "b", "x"};
  // k = 2: only the hit at rank 1 counts -> AP = (1/1) / 3 = 1/3
  EXPECT_NEAR(average_precision(ranked, judged, 2), 1.0 / 3.0, kEps);
}

TEST(AveragePrecisionTest, PerfectAndEmpty) {
  const Judgments judged = {{"a", 1}, {"b", 1}};
  // AP = (1/1 + 2/2) / 2 = 1
  EXPECT_NEAR(average_precision(Ranked{"a", "b"}, judged), 1.0, kEps);
  // nothing retrieved -> 0 / 2 = 0
  EXPECT_NEAR(average_precision(Ranked{}, judged), 0.0, kEps);
}

TEST(AveragePrecisionTest, NoRelevantDocIsZero) {
  const Judgments judged = {{"a", 0}};
  EXPECT_NEAR(average_precision(Ranked{"a"}, judged), 0.0, kEps);
}

// ----------------------------------------------------------------- MRR

TEST(ReciprocalRankTest, FirstRelevantRank) {
  const Judgments judged = {{"b", 2}, {"d", 0}, {"e", 1}};
  const Ranked ranked = {"x", "d", "b", "e"};
  // first relevant (b) at rank 3 -> 1/3
  EXPECT_NEAR(reciprocal_rank(ranked, judged), 1.0 / 3.0, kEps);
  // relevant at rank 1 -> 1/1
  EXPECT_NEAR(reciprocal_rank(Ranked{"e", "b"}, judged), 1.0, kEps);
}

TEST(ReciprocalRankTest, CutOffAndNone) {
  const Judgments judged = {{"b", 2}, {"d", 0}};
  const Ranked ranked = {"x", "d", "b"};
  // k = 2: b at rank 3 is outside the cut -> 0
  EXPECT_NEAR(reciprocal_rank(ranked, judged, 2), 0.0, kEps);
  // no relevant doc retrieved -> 0
  EXPECT_NEAR(reciprocal_rank(Ranked{"x", "d"}, judged), 0.0, kEps);
  EXPECT_NEAR(reciprocal_rank(Ranked{}, judged), 0.0, kEps);
}

// ------------------------------------------------- recall@k, precision@k

TEST(RecallTest, AtK) {
  const Judgments judged = {{"a", 1}, {"b", 3}, {"c", 1}, {"d", 1}, {"e", 0}};
  const Ranked ranked = {"a", "e", "b", "x", "c"};  // d never retrieved
  // 4 relevant docs (a, b, c, d)
  // @1: {a} -> 1/4
  EXPECT_NEAR(recall_at_k(ranked, judged, 1), 0.25, kEps);
  // @2: {a} (e has grade 0) -> 1/4
  EXPECT_NEAR(recall_at_k(ranked, judged, 2), 0.25, kEps);
  // @5: {a, b, c} -> 3/4
  EXPECT_NEAR(recall_at_k(ranked, judged, 5), 0.75, kEps);
  // @100 (beyond the list): still 3/4
  EXPECT_NEAR(recall_at_k(ranked, judged, 100), 0.75, kEps);
}

TEST(RecallTest, NoRelevantDocIsZero) {
  const Judgments judged = {{"a", 0}};
  EXPECT_NEAR(recall_at_k(Ranked{"a"}, judged, 10), 0.0, kEps);
}

TEST(PrecisionTest, AtKWithTrecEvalDivisor) {
  const Judgments judged = {{"a", 1}, {"b", 3}, {"c", 1}, {"d", 1}, {"e", 0}};
  const Ranked ranked = {"a", "e", "b", "x", "c"};
  // @1: 1 hit / 1 = 1
  EXPECT_NEAR(precision_at_k(ranked, judged, 1), 1.0, kEps);
  // @2: 1 hit (a) / 2 = 0.5
  EXPECT_NEAR(precision_at_k(ranked, judged, 2), 0.5, kEps);
  // @5: 3 hits (a, b, c) / 5 = 0.6
  EXPECT_NEAR(precision_at_k(ranked, judged, 5), 0.6, kEps);
  // @10 with only 5 retrieved: divisor stays 10 -> 3 / 10 = 0.3
  EXPECT_NEAR(precision_at_k(ranked, judged, 10), 0.3, kEps);
  // empty list: 0 / 10 = 0
  EXPECT_NEAR(precision_at_k(Ranked{}, judged, 10), 0.0, kEps);
}

// ----------------------------------------------------------------- AUC

TEST(AucTest, Perfect) {
  const std::vector<float> scores = {0.9f, 0.8f, 0.1f, 0.2f};
  const std::vector<float> labels = {1, 1, 0, 0};
  // every positive (0.9, 0.8) beats every negative (0.1, 0.2): 4/4
  EXPECT_NEAR(auc(scores, labels), 1.0, kEps);
}

TEST(AucTest, Inverted) {
  const std::vector<float> scores = {0.1f, 0.2f, 0.9f, 0.8f};
  const std::vector<float> labels = {1, 1, 0, 0};
  // every positive loses to every negative: 0/4
  EXPECT_NEAR(auc(scores, labels), 0.0, kEps);
}

TEST(AucTest, TiesCountHalf) {
  // positives: 0.5, 0.2   negatives: 0.5, 0.3, 0.4
  const std::vector<float> scores = {0.5f, 0.5f, 0.3f, 0.2f, 0.4f};
  const std::vector<float> labels = {1, 0, 0, 1, 0};
  // pos 0.5: vs 0.5 tie (0.5), vs 0.3 win (1), vs 0.4 win (1) = 2.5
  // pos 0.2: loses to all three                              = 0
  // AUC = 2.5 / (2 * 3) = 5/12
  EXPECT_NEAR(auc(scores, labels), 5.0 / 12.0, kEps);
}

TEST(AucTest, AllTiedIsHalf) {
  const std::vector<float> scores = {0.7f, 0.7f, 0.7f};
  const std::vector<float> labels = {1, 0, 0};
  // two ties, each 0.5: (0.5 + 0.5) / (1 * 2) = 0.5
  EXPECT_NEAR(auc(scores, labels), 0.5, kEps);
}

TEST(AucTest, LabelThresholdIsPositive) {
  // label > 0 is positive: 2 and 0.25 are positives; 0 and -1 negatives.
  const std::vector<float> scores = {0.9f, 0.1f, 0.6f, 0.4f};
  const std::vector<float> labels = {2, 0, -1, 0.25f};
  // pos 0.9: beats 0.1, 0.6 = 2;  pos 0.4: beats 0.1, loses to 0.6 = 1
  // AUC = 3 / (2 * 2) = 0.75
  EXPECT_NEAR(auc(scores, labels), 0.75, kEps);
}

TEST(AucTest, OneClassIsNan) {
  const std::vector<float> scores = {0.1f, 0.2f};
  EXPECT_TRUE(std::isnan(auc(scores, std::vector<float>{1, 1})));
  EXPECT_TRUE(std::isnan(auc(scores, std::vector<float>{0, 0})));
  EXPECT_TRUE(std::isnan(auc(std::vector<float>{}, std::vector<float>{})));
}

// ---------------------------------------------------------------- GAUC

TEST(GaucTest, WeightedByGroupSizeSkippingOneClassGroups) {
  // Groups are interleaved (non-contiguous).
  //  group 7 (3 items): pos 0.9; neg 0.1, 0.3      -> AUC 2/2 = 1
  //  group 3 (4 items): pos 0.2; neg 0.8, 0.4, 0.1 -> AUC 1/3
  //  group 5 (2 items): positives only             -> skipped
  const std::vector<float> scores = {0.9f, 0.2f, 0.1f, 0.5f, 0.8f,
                                     0.4f, 0.3f, 0.6f, 0.1f};
  const std::vector<float> labels = {1, 1, 0, 1, 0, 0, 0, 1, 0};
  const std::vector<std::uint64_t> groups = {7, 3, 7, 5, 3, 3, 7, 5, 3};
  // GAUC = (3 * 1 + 4 * 1/3) / (3 + 4) = (13/3) / 7 = 13/21
  // (an unweighted mean would give (1 + 1/3) / 2 = 2/3)
  EXPECT_NEAR(gauc(scores, labels, groups), 13.0 / 21.0, kEps);
}

TEST(GaucTest, SingleGroupEqualsAuc) {
  const std::vector<float> scores = {0.5f, 0.5f, 0.3f, 0.2f, 0.4f};
  const std::vector<float> labels = {1, 0, 0, 1, 0};
  const std::vector<std::uint64_t> groups = {42, 42, 42, 42, 42};
  // one group -> its AUC, 5/12 (see AucTest.TiesCountHalf)
  EXPECT_NEAR(gauc(scores, labels, groups), 5.0 / 12.0, kEps);
}

TEST(GaucTest, AllGroupsOneClassIsNan) {
  const std::vector<float> scores = {0.1f, 0.2f, 0.3f};
  const std::vector<float> labels = {1, 0, 1};
  const std::vector<std::uint64_t> groups = {1, 2, 1};
  // group 1: positives only; group 2: negative only -> all skipped
  EXPECT_TRUE(std::isnan(gauc(scores, labels, groups)));
}

// ---------------------------------------------------- order consistency

TEST(OrderConsistencyTest, TiesInReferenceAreSkipped) {
  const std::vector<float> reference = {1, 2, 3, 3};
  const std::vector<float> other = {10, 30, 20, 20};
  // strict pairs in reference: (0,1) (0,2) (0,3) (1,2) (1,3); (2,3) skipped
  // other agrees on (0,1) (0,2) (0,3); disagrees on (1,2) (1,3)
  // = 3/5
  EXPECT_NEAR(order_consistency(reference, other), 0.6, kEps);
}

TEST(OrderConsistencyTest, TiesInOtherCountHalf) {
  const std::vector<float> reference = {1, 2, 3};
  const std::vector<float> other = {5, 5, 6};
  // (0,1): tie in other = 0.5; (0,2): agree = 1; (1,2): agree = 1
  // = 2.5 / 3
  EXPECT_NEAR(order_consistency(reference, other), 2.5 / 3.0, kEps);
}

TEST(OrderConsistencyTest, BothKindsOfTies) {
  const std::vector<float> reference = {1, 1, 2};
  const std::vector<float> other = {3, 3, 3};
  // (0,1) skipped (reference tie); (0,2), (1,2) ties in other = 0.5 each
  // = (0.5 + 0.5) / 2 = 0.5
  EXPECT_NEAR(order_consistency(reference, other), 0.5, kEps);
}

TEST(OrderConsistencyTest, IdenticalAndReversed) {
  const std::vector<float> reference = {0.1f, 0.4f, 0.2f, 0.9f};
  // same order (different scale): 6/6 pairs agree
  const std::vector<float> same = {1, 4, 2, 9};
  EXPECT_NEAR(order_consistency(reference, same), 1.0, kEps);
  // negated: 0/6 pairs agree
  const std::vector<float> reversed = {-1, -4, -2, -9};
  EXPECT_NEAR(order_consistency(reference, reversed), 0.0, kEps);
}

TEST(OrderConsistencyCountsTest, TiesInBothLists) {
  const std::vector<float> reference = {1, 2, 2, 3, 1};
  const std::vector<float> other = {5, 4, 4, 5, 5};
  // reference ties (0,4) and (1,2) are skipped; 8 strict pairs remain:
  // (0,1) 1<2 vs 5>4 disagree 0      (0,2) 1<2 vs 5>4 disagree 0
  // (0,3) 1<3 vs 5=5 tie      0.5    (1,3) 2<3 vs 4<5 agree    1
  // (1,4) 2>1 vs 4<5 disagree 0      (2,3) 2<3 vs 4<5 agree    1
  // (2,4) 2>1 vs 4<5 disagree 0      (3,4) 3>1 vs 5=5 tie      0.5
  // agreeing = 3, pairs = 8
  const OrderConsistencyCounts c = order_consistency_counts(reference, other);
  EXPECT_EQ(c.pairs, 8u);
  EXPECT_DOUBLE_EQ(c.agreeing, 3.0);
  EXPECT_NEAR(order_consistency(reference, other), 3.0 / 8.0, kEps);
  // The direction matters: `other` as reference orders only 6 pairs strictly
  // ((0,1) (0,2) (1,3) (1,4) (2,3) (2,4)), of which reference agrees on
  // (1,3) (2,3) and disagrees on the other four (no tie in reference).
  const OrderConsistencyCounts s = order_consistency_counts(other, reference);
  EXPECT_EQ(s.pairs, 6u);
  EXPECT_DOUBLE_EQ(s.agreeing, 2.0);
  // The double overload counts the same.
  const std::vector<double> rd(reference.begin(), reference.end());
  const std::vector<double> od(other.begin(), other.end());
  const OrderConsistencyCounts d = order_consistency_counts(rd, od);
  EXPECT_EQ(d.pairs, 8u);
  EXPECT_DOUBLE_EQ(d.agreeing, 3.0);
}

TEST(OrderConsistencyCountsTest, DoubleScoresAreNotRoundedToFloat) {
  // 1 and 1 + 1e-12 are equal as floats but ordered as doubles.
  const std::vector<double> reference = {1.0, 1.0 + 1e-12, 0.5};
  const std::vector<double> other = {2.0, 2.0 + 1e-12, 2.0};
  // (0,1) agree 1; (0,2) 1>0.5 vs 2=2 tie 0.5; (1,2) agree 1
  const OrderConsistencyCounts c = order_consistency_counts(reference, other);
  EXPECT_EQ(c.pairs, 3u);
  EXPECT_DOUBLE_EQ(c.agreeing, 2.5);
}

TEST(OrderConsistencyCountsTest, EmptyAndNan) {
  const OrderConsistencyCounts e =
      order_consistency_counts(std::vector<float>{}, std::vector<float>{});
  EXPECT_EQ(e.pairs, 0u);
  EXPECT_EQ(e.agreeing, 0.0);
  // A NaN in reference orders nothing; a NaN in other counts as a tie.
  const float nan = std::nanf("");
  const std::vector<float> reference = {nan, 1, 2};
  const std::vector<float> other = {0, 1, nan};
  const OrderConsistencyCounts c = order_consistency_counts(reference, other);
  EXPECT_EQ(c.pairs, 1u);           // only (1,2)
  EXPECT_DOUBLE_EQ(c.agreeing, 0.5);
}

TEST(OrderConsistencyTest, NoStrictPairIsNan) {
  const std::vector<float> flat = {2, 2, 2};
  const std::vector<float> other = {1, 2, 3};
  EXPECT_TRUE(std::isnan(order_consistency(flat, other)));
  EXPECT_TRUE(std::isnan(order_consistency(std::vector<float>{1},
                                           std::vector<float>{1})));
  EXPECT_TRUE(std::isnan(order_consistency(std::vector<float>{},
                                           std::vector<float>{})));
}

}  // namespace
}  // namespace funnel::metrics
