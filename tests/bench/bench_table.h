// The closing table of tests/bench/run.sh: every benchmark prints its headline figures as
//   TABLE<TAB>figure<TAB>hvmd value<TAB>anchor name<TAB>anchor value<TAB>ratio<TAB>target
// lines, which run.sh collects into one table. The target is "-" (a figure without one), "<=N" or
// ">=N" (the hvmd value against N) or "ratio<=N" / "ratio>=N" (hvmd over the anchor against N);
// run.sh decides whether it holds.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace hvmd::bench {

// anchor_value <= 0 (or NaN) means there is none: its value and the ratio print as "-".
inline void table_line(const std::string& figure, double value, const std::string& anchor,
                       double anchor_value, const std::string& target) {
  bool has_anchor = anchor_value > 0 && !std::isnan(anchor_value);
  char anchor_text[32] = "-", ratio_text[32] = "-";
  if (has_anchor) {
    snprintf(anchor_text, sizeof(anchor_text), "%.4g", anchor_value);
    snprintf(ratio_text, sizeof(ratio_text), "%.3g", value / anchor_value);
  }
  printf("TABLE\t%s\t%.4g\t%s\t%s\t%s\t%s\n", figure.c_str(), value,
         anchor.empty() ? "-" : anchor.c_str(), anchor_text, ratio_text, target.c_str());
  fflush(stdout);
}

}  // namespace hvmd::bench

#ifdef BENCHMARK_BENCHMARK_H_
namespace hvmd::bench {

// Google Benchmark binaries: the console output as usual, and every run kept by name so main can
// print its table lines afterwards.
class TableReporter final : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs)
      if (run.run_type == Run::RT_Iteration && !run.error_occurred)
        runs_[run.benchmark_name()] = run;
    ConsoleReporter::ReportRuns(runs);
  }
  // Real time per iteration in nanoseconds, or NaN if the benchmark did not run (filtered out).
  double ns_per_iteration(const std::string& name) const {
    auto it = runs_.find(name);
    if (it == runs_.end()) return NAN;
    return it->second.GetAdjustedRealTime() * 1e9 /
           benchmark::GetTimeUnitMultiplier(it->second.time_unit);
  }
  // A user counter (rates already divided by the time), or NaN.
  double counter(const std::string& name, const std::string& counter_name) const {
    auto it = runs_.find(name);
    if (it == runs_.end()) return NAN;
    auto c = it->second.counters.find(counter_name);
    return c == it->second.counters.end() ? NAN : static_cast<double>(c->second.value);
  }

 private:
  std::map<std::string, Run> runs_;
};

// BENCHMARK_MAIN with a table: rows() prints the binary's table lines from what ran (a figure
// whose benchmark was filtered out is left out).
inline int run_with_table(int argc, char** argv,
                          const std::function<void(const TableReporter&)>& rows) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  TableReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  rows(reporter);
  return 0;
}

// table_line for a figure that may not have run.
inline void table_line_if(double value, const std::string& figure, const std::string& anchor,
                          double anchor_value, const std::string& target) {
  if (!std::isnan(value)) table_line(figure, value, anchor, anchor_value, target);
}

}  // namespace hvmd::bench
#endif
