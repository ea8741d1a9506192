#include "sampling/quadrature.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace ipa::sampling {
namespace {

// Nodes (positive half, index 10 = centre) and weights of the 21-point Kronrod rule and of the
// embedded 10-point Gauss rule (Piessens et al., QUADPACK, 1983). Odd indices (1, 3, ...)
// are the Gauss nodes.
constexpr double kNodes[11] = {
    0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
    0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
    0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
    0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
    0.294392862701460198131126603103866, 0.148874338981631210884826001129720,
    0.000000000000000000000000000000000};
constexpr double kKronrodWeights[11] = {
    0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
    0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
    0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
    0.123491976262065851077958109831074, 0.134709217311473325928054001771707,
    0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
    0.149445554002916905664936468389821};
constexpr double kGaussWeights[5] = {
    0.066671344308688137593568809893332, 0.149451349150580593145776339657697,
    0.219086362515982043995534934228163, 0.269266719309996355091226921569469,
    0.295524224714752870173892994651338};

struct RuleResult {
  double result = 0, abserr = 0, resabs = 0, resasc = 0;
};

// One 21-point rule, accumulating in QUADPACK's order: the Gauss nodes first, then the
// Kronrod-only nodes.
RuleResult gk21(const std::function<double(double)>& f, double a, double b) {
  constexpr double kEps = std::numeric_limits<double>::epsilon();
  constexpr double kTiny = std::numeric_limits<double>::min();
  const double centr = 0.5 * (a + b);
  const double hlgth = 0.5 * (b - a);
  const double dhlgth = std::fabs(hlgth);

  double fv1[10], fv2[10];
  double resg = 0.0;
  const double fc = f(centr);
  double resk = kKronrodWeights[10] * fc;
  double resabs = std::fabs(resk);
  for (int j = 0; j < 5; ++j) {
    const int jtw = 2 * j + 1;
    const double absc = hlgth * kNodes[jtw];
    const double fval1 = f(centr - absc);
    const double fval2 = f(centr + absc);
    fv1[jtw] = fval1;
    fv2[jtw] = fval2;
    const double fsum = fval1 + fval2;
    resg = resg + kGaussWeights[j] * fsum;
    resk = resk + kKronrodWeights[jtw] * fsum;
    resabs = resabs + kKronrodWeights[jtw] * (std::fabs(fval1) + std::fabs(fval2));
  }
  for (int j = 0; j < 5; ++j) {
    const int jtwm1 = 2 * j;
    const double absc = hlgth * kNodes[jtwm1];
    const double fval1 = f(centr - absc);
    const double fval2 = f(centr + absc);
    fv1[jtwm1] = fval1;
    fv2[jtwm1] = fval2;
    const double fsum = fval1 + fval2;
    resk = resk + kKronrodWeights[jtwm1] * fsum;
    resabs = resabs + kKronrodWeights[jtwm1] * (std::fabs(fval1) + std::fabs(fval2));
  }
  const double reskh = resk * 0.5;
  double resasc = kKronrodWeights[10] * std::fabs(fc - reskh);
  for (int j = 0; j < 10; ++j) {
    resasc = resasc + kKronrodWeights[j] * (std::fabs(fv1[j] - reskh) + std::fabs(fv2[j] - reskh));
  }
  RuleResult r;
  r.result = resk * hlgth;
  r.resabs = resabs * dhlgth;
  r.resasc = resasc * dhlgth;
  r.abserr = std::fabs((resk - resg) * hlgth);
  if (r.resasc != 0.0 && r.abserr != 0.0) {
    r.abserr = r.resasc * std::min(1.0, std::pow(200.0 * r.abserr / r.resasc, 1.5));
  }
  if (r.resabs > kTiny / (50.0 * kEps)) r.abserr = std::max((kEps * 50.0) * r.resabs, r.abserr);
  return r;
}

}  // namespace

double integrate_gk21(const std::function<double(double)>& f, double a, double b, double epsabs,
                      double epsrel) {
  constexpr double kEps = std::numeric_limits<double>::epsilon();
  const RuleResult first = gk21(f, a, b);
  const double errbnd = std::max(epsabs, epsrel * std::fabs(first.result));
  const bool roundoff = first.abserr <= 100.0 * kEps * first.resabs && first.abserr > errbnd;
  if (roundoff || (first.abserr <= errbnd && first.abserr != first.resasc) || first.abserr == 0.0) {
    return first.result;
  }
  // Adaptive bisection of the interval with the largest error estimate (QUADPACK's limit 50).
  struct Piece {
    double a, b, result, abserr;
  };
  std::vector<Piece> pieces{{a, b, first.result, first.abserr}};
  for (int iter = 1; iter < 50; ++iter) {
    auto worst = std::max_element(pieces.begin(), pieces.end(), [](const Piece& x, const Piece& y) {
      return x.abserr < y.abserr;
    });
    const Piece p = *worst;
    const double mid = 0.5 * (p.a + p.b);
    const RuleResult left = gk21(f, p.a, mid);
    const RuleResult right = gk21(f, mid, p.b);
    *worst = {p.a, mid, left.result, left.abserr};
    pieces.push_back({mid, p.b, right.result, right.abserr});
    double total = 0.0, err = 0.0;
    for (const Piece& q : pieces) {
      total += q.result;
      err += q.abserr;
    }
    if (err <= std::max(epsabs, epsrel * std::fabs(total))) return total;
  }
  double total = 0.0;
  for (const Piece& q : pieces) total += q.result;
  return total;
}

}  // namespace ipa::sampling
