// Numerical integration as scipy.integrate.quad does it for smooth integrands (QUADPACK's
// QAGS): one 21-point Gauss-Kronrod rule over [a, b], accepted when its error estimate meets
// max(epsabs, epsrel * |result|). The first rule is evaluated with QUADPACK's exact operation
// order, so an accepted result matches scipy to the last bit for the same integrand values.
// When the estimate fails, the interval is bisected adaptively (QAGS would also extrapolate;
// the LMS integrands — polynomials of degree <= 3 — never get there).
#pragma once
#include <functional>

namespace ipa::sampling {

double integrate_gk21(const std::function<double(double)>& f, double a, double b,
                      double epsabs = 1.49e-8, double epsrel = 1.49e-8);

}  // namespace ipa::sampling
