# Reference values for ipdmeta.mixed from lme4 + lmerTest + emmeans + pbkrtest.
#
# Run from the repository root (after tests/reference/make_mixed_data.py):
#
#     Rscript tests/reference/lme4_reference.R
#
# Writes one JSON file per case into tests/reference/mixed/, each with a "source" block
# (R and package versions, optimiser settings), the data the model was fitted to, and every
# number the agreement tests compare. Numbers are written with sprintf("%.17g") so that
# they read back as the same doubles; non-finite values are written as the strings
# "Inf", "-Inf", "NaN" and missing values as null.
#
# Names are R's ("(Intercept)", "diagnosisTN", "sd_(Intercept)|Subject"); the tests map
# them to ipdmeta's names in one place (tests/mixed/conftest.py).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(pbkrtest)
  library(jsonlite)
})

root <- getwd()
data_dir <- file.path(root, "tests", "reference", "mixed", "data")
out_dir <- file.path(root, "tests", "reference", "mixed")
if (!dir.exists(data_dir)) stop("run from the repository root after make_mixed_data.py")

# Tight optimiser settings so that the reference optimum is converged well past the
# tolerances of the tests (bobyqa's final trust-region radius rhoend defaults to 2e-7).
OPTIMIZER <- "bobyqa"
OPT_CTRL <- list(maxfun = 1e5, rhoend = 1e-12)
ctrl <- lmerControl(optimizer = OPTIMIZER, optCtrl = OPT_CTRL)
# Cross-check optimiser: nloptwrap (BOBYQA from NLopt) with tight tolerances; the largest
# relative difference in theta, beta and sigma between the two is written per case.
ctrl_check <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-16, xtol_rel = 1e-14, ftol_rel = 1e-16,
                 maxeval = 1e5)
)
emm_options(lmerTest.limit = 1e5, pbkrtest.limit = 1e5)

ADJUST <- c("none", "holm", "bonferroni", "tukey", "fdr")
EMM_DF <- c("kenward-roger", "satterthwaite", "asymptotic")

# ---------------------------------------------------------------- JSON writer
source(file.path("tests", "reference", "json_writer.R"))

# ---------------------------------------------------------------- data sets
# Factor levels sorted bytewise ("C" locale), as Python sorts strings, so that the
# reference level is the same in R and in ipdmeta whatever the locale R runs in.
as_factors <- function(d, factors) {
  for (f in factors) d[[f]] <- factor(as.character(d[[f]]),
                                      levels = sort(unique(as.character(d[[f]])), method = "radix"))
  d
}

published <- list(
  sleepstudy = list(
    data = {
      d <- lme4::sleepstudy
      data.frame(Reaction = d$Reaction, Days = d$Days, Subject = as.character(d$Subject))
    },
    factors = "Subject",
    citation = paste(
      "lme4::sleepstudy. Belenky G, Wesensten NJ, Thorne DR, Thomas ML, Sing HC, Redmond DP,",
      "Russo MB, Balkin TJ (2003). Patterns of performance degradation and restoration during",
      "sleep restriction and subsequent recovery: a sleep dose-response study. Journal of",
      "Sleep Research 12, 1-12."
    )
  ),
  penicillin = list(
    data = {
      d <- lme4::Penicillin
      data.frame(diameter = d$diameter, plate = as.character(d$plate),
                 sample = as.character(d$sample))
    },
    factors = c("plate", "sample"),
    citation = paste(
      "lme4::Penicillin. Davies OL, Goldsmith PL (eds) (1972). Statistical Methods in",
      "Research and Production, 4th ed. Oliver and Boyd, Table 6.6, p. 144."
    )
  ),
  pastes = list(
    data = {
      d <- lme4::Pastes
      data.frame(strength = d$strength, batch = as.character(d$batch),
                 cask = as.character(d$cask), sample = as.character(d$sample))
    },
    factors = c("batch", "cask", "sample"),
    citation = paste(
      "lme4::Pastes. Davies OL, Goldsmith PL (eds) (1972). Statistical Methods in",
      "Research and Production, 4th ed. Oliver and Boyd, Table 6.5, p. 138."
    )
  ),
  machines = list(
    data = {
      d <- nlme::Machines
      data.frame(score = d$score, Machine = as.character(d$Machine),
                 Worker = as.character(d$Worker))
    },
    factors = c("Machine", "Worker"),
    citation = paste(
      "nlme::Machines. Milliken GA, Johnson DE (1992). Analysis of Messy Data, Volume I:",
      "Designed Experiments. Chapman and Hall, London. Used by Pinheiro JC, Bates DM (2000).",
      "Mixed-Effects Models in S and S-PLUS. Springer, section 1.3."
    )
  )
)

simulated_readme <- file.path(data_dir, "README.md")
simulated_note <- function(name) {
  lines <- readLines(simulated_readme)
  i <- which(lines == paste0("## ", name, ".csv"))
  j <- grep("^simulated by", lines)
  j <- j[j > i][1]
  paste0(lines[j], " See tests/reference/mixed/data/README.md.")
}

load_data <- function(name) {
  if (!is.null(published[[name]])) {
    p <- published[[name]]
    return(list(data = as_factors(p$data, p$factors), origin = p$citation,
                file = NULL))
  }
  path <- file.path(data_dir, paste0(name, ".csv"))
  d <- read.csv(path, stringsAsFactors = FALSE, na.strings = "")
  chr <- names(d)[vapply(d, is.character, TRUE)]
  list(data = as_factors(d, chr), origin = simulated_note(name),
       file = file.path("tests", "reference", "mixed", "data", paste0(name, ".csv")))
}

# ---------------------------------------------------------------- the grid
# id, data set, lme4 formula, REML, the factors emmeans is asked about, and an ML pair of
# nested models for a likelihood-ratio test.
CASES <- list(
  list(id = "sleepstudy-slopes", data = "sleepstudy",
       formula = "Reaction ~ Days + (Days | Subject)", reml = TRUE, emmeans = character(0),
       lrt = c("Reaction ~ 1 + (Days | Subject)", "Reaction ~ Days + (Days | Subject)")),
  list(id = "sleepstudy-uncorrelated", data = "sleepstudy",
       formula = "Reaction ~ Days + (Days || Subject)", reml = TRUE, emmeans = character(0),
       lrt = c("Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days || Subject)")),
  list(id = "sleepstudy-intercept-ml", data = "sleepstudy",
       formula = "Reaction ~ Days + (1 | Subject)", reml = FALSE, emmeans = character(0),
       lrt = NULL),
  list(id = "penicillin-crossed", data = "penicillin",
       formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", reml = TRUE,
       emmeans = character(0), lrt = NULL),
  list(id = "pastes-nested", data = "pastes",
       formula = "strength ~ 1 + (1 | batch/cask)", reml = TRUE, emmeans = character(0),
       lrt = c("strength ~ 1 + (1 | batch)", "strength ~ 1 + (1 | batch/cask)")),
  list(id = "ipd-review", data = "ipd_review",
       formula = "relief_pct ~ diagnosis + lesion_location + age + sex + (1 | study_id)",
       reml = TRUE, emmeans = c("diagnosis", "lesion_location", "sex"),
       lrt = c("relief_pct ~ lesion_location + age + sex + (1 | study_id)",
               "relief_pct ~ diagnosis + lesion_location + age + sex + (1 | study_id)")),
  list(id = "ipd-singular", data = "ipd_singular",
       formula = "relief_pct ~ diagnosis + age + sex + (1 | study_id)", reml = TRUE,
       emmeans = c("diagnosis", "sex"),
       lrt = c("relief_pct ~ age + sex + (1 | study_id)",
               "relief_pct ~ diagnosis + age + sex + (1 | study_id)")),
  list(id = "ipd-single-patient", data = "ipd_single_patient",
       formula = "relief_pct ~ diagnosis + age + sex + (1 | study_id)", reml = TRUE,
       emmeans = c("diagnosis", "sex"), lrt = NULL),
  list(id = "ipd-crossed", data = "ipd_crossed",
       formula = "relief_pct ~ diagnosis + age + sex + (1 | study_id) + (1 | centre)",
       reml = TRUE, emmeans = c("diagnosis"),
       lrt = c("relief_pct ~ diagnosis + age + sex + (1 | study_id)",
               "relief_pct ~ diagnosis + age + sex + (1 | study_id) + (1 | centre)")),
  list(id = "ipd-interaction", data = "ipd_crossed",
       formula = "relief_pct ~ diagnosis * sex + age + (1 | study_id)", reml = TRUE,
       emmeans = c("diagnosis", "sex"),
       lrt = c("relief_pct ~ diagnosis + sex + age + (1 | study_id)",
               "relief_pct ~ diagnosis * sex + age + (1 | study_id)")),
  # age_months = 12 * age is aliased with age: lme4 drops it (the later column)
  list(id = "ipd-aliased", data = "ipd_review",
       transform = function(d) {
         d$age_months <- 12 * d$age
         d
       },
       formula = "relief_pct ~ diagnosis + age + age_months + sex + (1 | study_id)",
       reml = TRUE, emmeans = c("diagnosis"), lrt = NULL),
  list(id = "ipd-nested", data = "ipd_nested",
       formula = "relief_pct ~ diagnosis + age + sex + (1 | study_id/surgeon)", reml = TRUE,
       emmeans = c("diagnosis"),
       lrt = c("relief_pct ~ age + sex + (1 | study_id/surgeon)",
               "relief_pct ~ diagnosis + age + sex + (1 | study_id/surgeon)")),
  # Functions of covariates in the fixed part: log(), I() and an interaction with a factor;
  # emmeans evaluates them at the covariate's mean, as the model's own terms.
  list(id = "ipd-transforms", data = "ipd_review",
       formula = "relief_pct ~ diagnosis * log(age) + I(age^2) + sex + (1 | study_id)",
       reml = TRUE, emmeans = c("diagnosis", "sex"),
       lrt = c("relief_pct ~ diagnosis + log(age) + sex + (1 | study_id)",
               "relief_pct ~ diagnosis * log(age) + I(age^2) + sex + (1 | study_id)")),
  # Orthogonal polynomials and scale(): stateful, their basis taken from the rows fitted.
  list(id = "sleepstudy-poly", data = "sleepstudy",
       formula = "Reaction ~ poly(Days, 2) + (1 | Subject)", reml = TRUE,
       emmeans = character(0), lrt = NULL),
  list(id = "ipd-scaled", data = "ipd_review",
       formula = "relief_pct ~ diagnosis + scale(age) + sex + (1 | study_id)", reml = TRUE,
       emmeans = c("diagnosis"), lrt = NULL),
  # Factor random slopes: a column per machine (no intercept), and the same model
  # parameterised by an intercept and treatment contrasts.
  # lme4's profile of these 3 x 3 covariance models had not finished after 40 minutes (its
  # refits near a correlation of 1), so they have no profile intervals: profile = FALSE.
  list(id = "machines-factor-slopes", data = "machines",
       formula = "score ~ Machine + (0 + Machine | Worker)", reml = TRUE,
       emmeans = c("Machine"), profile = FALSE,
       lrt = c("score ~ Machine + (1 | Worker)", "score ~ Machine + (0 + Machine | Worker)")),
  list(id = "machines-intercept-slopes", data = "machines",
       formula = "score ~ Machine + (1 + Machine | Worker)", reml = TRUE,
       emmeans = c("Machine"), profile = FALSE, lrt = NULL),
  # A function of a variable inside a random term.
  list(id = "sleepstudy-random-functions", data = "sleepstudy",
       formula = "Reaction ~ Days + (1 + log(Days + 1) | Subject)", reml = TRUE,
       emmeans = character(0),
       lrt = c("Reaction ~ Days + (1 | Subject)",
               "Reaction ~ Days + (1 + log(Days + 1) | Subject)")),
  # Offsets: a row missing the offset's variable is dropped as a missing predictor's;
  # emmeans adds the offset with its variable at the mean (log(mean(age)) here).
  list(id = "ipd-offset", data = "ipd_review",
       formula = "relief_pct ~ diagnosis + sex + offset(log(age)) + (1 | study_id)",
       reml = TRUE, emmeans = c("diagnosis", "sex"),
       lrt = c("relief_pct ~ sex + offset(log(age)) + (1 | study_id)",
               "relief_pct ~ diagnosis + sex + offset(log(age)) + (1 | study_id)")),
  list(id = "sleepstudy-offset-slopes", data = "sleepstudy",
       formula = "Reaction ~ Days + offset(2.5 * Days) + (Days | Subject)", reml = TRUE,
       emmeans = character(0), lrt = NULL, profile = FALSE,
       profile_reason = paste("the covariance model is sleepstudy-slopes', whose profile",
                              "is a reference; an offset leaves it as it is, and ipd-offset",
                              "profiles a model with an offset")),
  # Two terms that nearly stand in for each other (age varies little around 55): the
  # criterion has a second, higher local minimum with the intercept's variance at 0,
  # where a search from theta = (1, 1) ended. lme4's optimum has the slope's at 0.
  list(id = "ipd-slope-or-intercept", data = "ipd_review",
       formula = "relief_pct ~ diagnosis + (1 | study_id) + (0 + age | study_id)",
       reml = TRUE, emmeans = c("diagnosis"), profile = FALSE,
       profile_reason = paste("the case is about the optimum; the profile of a variance",
                              "on its boundary next to a second local minimum is not a",
                              "reference for it"),
       lrt = NULL)
)

# ---------------------------------------------------------------- helpers
coef_table <- function(mat, method) {
  est <- mat[, 1]
  se <- mat[, 2]
  df <- if (method == "asymptotic") rep(Inf, length(est)) else mat[, 3]
  t <- est / se
  p <- 2 * pt(-abs(t), df)
  q <- qt(0.975, df)
  data.frame(term = rownames(mat), estimate = est, se = se, df = df, t = t, pvalue = p,
             ci_lower = est - q * se, ci_upper = est + q * se, stringsAsFactors = FALSE)
}

fixef_tables <- function(m) {
  # Kenward-Roger is defined for REML fits only (pbkrtest refuses ML fits).
  sat <- summary(m, ddf = "Satterthwaite")$coefficients
  out <- list(satterthwaite = coef_table(sat, "satterthwaite"))
  if (isREML(m)) {
    kr <- summary(m, ddf = "Kenward-Roger")$coefficients
    out$`kenward-roger` <- coef_table(kr, "kenward-roger")
    stopifnot(isTRUE(all.equal(out$`kenward-roger`$pvalue, unname(kr[, 5]), tolerance = 1e-10)))
  }
  # Asymptotic: the Wald z-test on vcov(m); residual: the same t statistic on
  # nobs - rank(X) degrees of freedom.
  b <- fixef(m)
  se <- sqrt(diag(as.matrix(vcov(m))))
  base <- cbind(b, se)
  rownames(base) <- names(b)
  out$asymptotic <- coef_table(base, "asymptotic")
  res_df <- nobs(m) - length(b)
  out$residual <- coef_table(cbind(b, se, res_df), "residual")
  # the four tables must share lmerTest's t statistics where they share the SE
  stopifnot(isTRUE(all.equal(out$satterthwaite$t, unname(sat[, 4]), tolerance = 1e-12)))
  stopifnot(isTRUE(all.equal(out$satterthwaite$pvalue, unname(sat[, 5]), tolerance = 1e-10)))
  out
}

anova_tables <- function(m) {
  if (length(attr(terms(m), "term.labels")) == 0) return(NULL)
  out <- list()
  for (type in c("1", "2", "3")) {
    out[[type]] <- list()
    for (ddf in if (isREML(m)) c("Satterthwaite", "Kenward-Roger") else "Satterthwaite") {
      a <- anova(m, type = as.integer(type), ddf = ddf)
      a <- a[!is.na(a[["F value"]]), , drop = FALSE]  # a term lost to aliasing is empty
      out[[type]][[tolower(ddf)]] <- data.frame(
        term = rownames(a), sum_sq = a[["Sum Sq"]], mean_sq = a[["Mean Sq"]],
        num_df = a[["NumDF"]], den_df = a[["DenDF"]], F = a[["F value"]],
        pvalue = a[["Pr(>F)"]], stringsAsFactors = FALSE
      )
    }
  }
  out
}

emm_tables <- function(m, spec) {
  out <- list()
  for (ddf in EMM_DF) {
    e <- emmeans(m, spec, lmer.df = ddf)
    s <- as.data.frame(summary(e, infer = c(TRUE, FALSE)))
    lo <- grep("(LCL|lower\\.CL)$", names(s), value = TRUE)
    hi <- grep("(UCL|upper\\.CL)$", names(s), value = TRUE)
    emm <- data.frame(level = as.character(s[[spec]]), emmean = s$emmean, se = s$SE,
                      df = s$df, ci_lower = s[[lo]], ci_upper = s[[hi]],
                      stringsAsFactors = FALSE)
    pw <- list()
    for (adj in ADJUST) {
      p <- as.data.frame(summary(pairs(e), adjust = adj, infer = c(FALSE, TRUE)))
      stat <- grep("ratio$", names(p), value = TRUE)
      pw[[adj]] <- data.frame(contrast = as.character(p$contrast), estimate = p$estimate,
                              se = p$SE, df = p$df, t = p[[stat]], pvalue = p$p.value,
                              stringsAsFactors = FALSE)
    }
    out[[ddf]] <- list(emmeans = emm, pairwise = pw)
  }
  out
}

varcorr_tables <- function(m) {
  vc <- as.data.frame(VarCorr(m), order = "lower.tri")
  var_rows <- is.na(vc$var2)
  list(
    variance = data.frame(group = vc$grp[var_rows],
                          name = ifelse(is.na(vc$var1[var_rows]), "", vc$var1[var_rows]),
                          variance = vc$vcov[var_rows], sd = vc$sdcor[var_rows],
                          stringsAsFactors = FALSE),
    correlation = data.frame(group = vc$grp[!var_rows], name1 = vc$var1[!var_rows],
                             name2 = vc$var2[!var_rows], covariance = vc$vcov[!var_rows],
                             correlation = vc$sdcor[!var_rows], stringsAsFactors = FALSE)
  )
}

fit_block <- function(m) {
  ll <- logLik(m)
  ng <- ngrps(m)
  vc <- as.data.frame(VarCorr(m))
  # ICC reported only for a single random intercept: between-group variance over total.
  icc <- NULL
  if (nrow(vc) == 2 && vc$var1[1] == "(Intercept)") icc <- vc$vcov[1] / sum(vc$vcov)
  list(
    loglik = as.numeric(ll), loglik_df = attr(ll, "df"), aic = AIC(m), bic = BIC(m),
    reml_criterion = if (isREML(m)) unname(REMLcrit(m)) else NULL,
    deviance = if (isREML(m)) NULL else deviance(m),
    nobs = nobs(m), ngroups = as.list(ng), is_singular = isSingular(m),
    icc = icc, sigma = sigma(m), theta = I(unname(getME(m, "theta"))),
    beta = I(unname(fixef(m)))
  )
}

ranef_table <- function(m) {
  r <- as.data.frame(ranef(m, condVar = TRUE))
  data.frame(group = as.character(r$grpvar), level = as.character(r$grp),
             name = as.character(r$term), estimate = r$condval, se = r$condsd,
             stringsAsFactors = FALSE)
}

predict_block <- function(m, d) {
  used <- d[complete.cases(d[, all.vars(formula(m))]), , drop = FALSE]
  rows <- unique(round(seq(1, nrow(used), length.out = 5)))
  nd <- used[rows, all.vars(formula(m)), drop = FALSE]
  rownames(nd) <- NULL
  list(newdata = nd,
       with_random = I(unname(predict(m, newdata = nd, re.form = NULL))),
       fixed_only = I(unname(predict(m, newdata = nd, re.form = NA))))
}

ci_table <- function(ci) {
  ci <- ci[!is.na(ci[, 1]), , drop = FALSE]
  data.frame(term = rownames(ci), ci_lower = ci[, 1], ci_upper = ci[, 2],
             stringsAsFactors = FALSE)
}

profile_ci <- function(m, ...) {
  # the profile and its warnings (lme4 warns on non-monotonic profiles, failed refits,
  # and when it falls back from a spline to linear interpolation)
  warns <- character(0)
  ci <- withCallingHandlers(
    tryCatch(ci_table(confint(profile(m, signames = FALSE, ...))),
             error = function(e) conditionMessage(e)),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  list(ci = ci, warnings = unique(warns))
}

# An exact profile for models with one random intercept (a single theta), independent of
# lme4's spline: each bound is a root (uniroot, tol 1e-10) of the signed root deviance
# zeta(v) = sign(v - v_hat) sqrt(D(v) - D_min) = -/+ qnorm(0.975), where D is the ML
# deviance (lme4 profiles REML fits after refitting by ML) minimised over the remaining
# parameters. For a fixed effect, D(b) comes from the model without that column and with
# b * column as offset, minimised over theta by a grid (0 and 80 log-spaced values) and
# then optimize() around the best grid point; for sd and sigma, from lme4's devfun2 on
# the (sd, sigma) scale minimised over the other one. An SD bound below which zeta never
# reaches -z is 0, as in lme4.
exact_profile <- function(m) {
  if (length(getME(m, "theta")) != 1) return(NULL)
  fm <- refitML(m)
  base <- deviance(fm)
  z <- qnorm(0.975)
  root <- function(zeta, from, step) {
    # walk outward from the estimate until zeta passes z, then solve
    to <- from + step
    k <- 0
    while (abs(zeta(to)) < z) {
      to <- from + (to - from) * 2
      k <- k + 1
      if (k > 60) stop("profile does not reach the cutoff")
    }
    uniroot(function(v) abs(zeta(v)) - z, sort(c(from, to)), tol = 1e-10)$root
  }
  min1 <- function(f, hi, zero = TRUE) {
    grid <- c(if (zero) 0, exp(seq(log(hi * 1e-6), log(hi), length.out = 80)))
    vals <- vapply(grid, f, 0)
    i <- which.min(vals)
    lo_b <- grid[max(i - 1, 1)]
    hi_b <- grid[min(i + 1, length(grid))]
    o <- optimize(f, c(lo_b, hi_b), tol = 1e-12)
    min(vals[i], o$objective)
  }
  theta_hat <- getME(fm, "theta")
  theta_hi <- 10 * max(theta_hat, 1)
  X <- getME(fm, "X")
  y <- getME(fm, "y") - getME(fm, "offset")  # the offset (0 without one) is known
  grp <- getME(fm, "flist")[[1]]
  out <- list()
  f2 <- lme4:::devfun2(fm, useSc = TRUE, signames = FALSE)
  opt <- attr(f2, "optimum")
  s_hat <- opt[[1]]
  sig_hat <- opt[[2]]
  zeta_sd <- function(s) {
    dmin <- min1(function(sig) f2(c(s, sig)), 10 * sig_hat, zero = FALSE)
    sign(s - s_hat) * sqrt(max(dmin - base, 0))
  }
  zeta_sigma <- function(sig) {
    dmin <- min1(function(s) f2(c(s, sig)), 10 * max(s_hat, sig_hat))
    sign(sig - sig_hat) * sqrt(max(dmin - base, 0))
  }
  sd_lo <- if (s_hat == 0 || abs(zeta_sd(0)) < z) 0 else root(zeta_sd, s_hat, -s_hat / 2)
  sd_lo <- if (sd_lo < 0) 0 else sd_lo
  out[[names(opt)[1]]] <- c(sd_lo, root(zeta_sd, s_hat, max(s_hat, sig_hat) / 2))
  out[["sigma"]] <- c(root(zeta_sigma, sig_hat, -sig_hat / 4),
                      root(zeta_sigma, sig_hat, sig_hat / 4))
  se <- sqrt(diag(as.matrix(vcov(fm))))
  for (j in seq_len(ncol(X))) {
    Xd <- X[, -j, drop = FALSE]
    b_hat <- fixef(fm)[[j]]
    zeta_b <- function(b) {
      dd <- data.frame(yp = y - b * X[, j], g = grp)
      dd$Xd <- Xd
      f <- lmer(yp ~ 0 + Xd + (1 | g), dd, REML = FALSE, devFunOnly = TRUE)
      sign(b - b_hat) * sqrt(max(min1(f, theta_hi) - base, 0))
    }
    out[[colnames(X)[j]]] <- c(root(zeta_b, b_hat, -se[[j]]), root(zeta_b, b_hat, se[[j]]))
  }
  data.frame(term = names(out), ci_lower = vapply(out, `[`, 0, 1),
             ci_upper = vapply(out, `[`, 0, 2), stringsAsFactors = FALSE)
}

confint_block <- function(m, profile = TRUE, reason = NULL) {
  wald <- ci_table(confint(m, method = "Wald", oldNames = FALSE))
  if (!profile) {
    if (is.null(reason)) {
      reason <- paste("lme4's profile of this model did not finish within 10 minutes on",
                      "the reference machine")
    }
    return(list(wald = wald, profile = NULL, profile_exact = NULL,
                profile_exact_error = NULL,
                profile_error = paste("not computed:", reason),
                profile_warnings = I(character(0)),
                profile_default_grid_warnings = I(character(0))))
  }
  # Profile intervals interpolate a spline through the profile; a finer grid (delta one
  # tenth of lme4's default) makes the interpolation error small, and each bound's
  # relative change from lme4's default grid is recorded to judge the tolerance.
  fine <- profile_ci(m, delta = qnorm(0.9995) / 80)
  default <- profile_ci(m)
  prof <- NULL
  if (is.data.frame(fine$ci)) {
    prof <- fine$ci
    if (is.data.frame(default$ci) && identical(default$ci$term, prof$term)) {
      rel <- function(a, b) abs(a - b) / pmax(abs(a), 1e-8)
      prof$grid_rel_diff <- pmax(rel(prof$ci_lower, default$ci$ci_lower),
                                 rel(prof$ci_upper, default$ci$ci_upper))
    }
  }
  exact <- tryCatch(exact_profile(m), error = function(e) conditionMessage(e))
  list(wald = wald, profile = prof,
       profile_exact = if (is.data.frame(exact)) exact else NULL,
       profile_exact_error = if (is.character(exact)) exact else NULL,
       profile_error = if (is.character(fine$ci)) fine$ci else NULL,
       profile_warnings = I(fine$warnings),
       profile_default_grid_warnings = I(default$warnings))
}

lrt_block <- function(forms, d) {
  m0 <- lmer(as.formula(forms[1]), d, REML = FALSE, control = ctrl)
  m1 <- lmer(as.formula(forms[2]), d, REML = FALSE, control = ctrl)
  a <- anova(m0, m1, refit = FALSE)
  list(m0 = forms[1], m1 = forms[2], reml = FALSE,
       m0_loglik = as.numeric(logLik(m0)), m1_loglik = as.numeric(logLik(m1)),
       m0_aic = AIC(m0), m1_aic = AIC(m1),
       chisq = a[["Chisq"]][2], df = a[["Df"]][2], pvalue = a[["Pr(>Chisq)"]][2])
}

check_optimum <- function(m, f, d, reml) {
  # theta itself can be flat to machine precision (sleepstudy's correlation parameter
  # moves by 1e-8 with no change in the criterion), so compare what the tests compare.
  m2 <- lme4::lmer(as.formula(f), d, REML = reml, control = ctrl_check)
  pick <- function(x) c(fixef(x), sqrt(diag(as.matrix(vcov(x)))), sigma(x),
                        as.data.frame(VarCorr(x))$vcov)
  crit <- function(x, reml) as.numeric(if (reml) REMLcrit(x) else deviance(x))
  a <- pick(m)
  b <- pick(m2)
  list(max_rel_diff = max(abs(a - b) / pmax(abs(a), 1e-8)),
       criterion_diff = crit(m2, reml) - crit(m, reml),
       compared = "fixef, SE(fixef), sigma, VarCorr variances and covariances",
       check_optimizer = "nloptwrap, xtol_abs 1e-14, ftol_abs 1e-16")
}

versions <- function() {
  pv <- function(p) as.character(packageVersion(p))
  list(
    R = R.version.string,
    lme4 = pv("lme4"), lmerTest = pv("lmerTest"), emmeans = pv("emmeans"),
    pbkrtest = pv("pbkrtest"), Matrix = pv("Matrix"), minqa = pv("minqa"),
    nloptr = pv("nloptr"), numDeriv = pv("numDeriv"), jsonlite = pv("jsonlite"),
    script = "tests/reference/lme4_reference.R",
    optimizer = list(optimizer = OPTIMIZER, optCtrl = OPT_CTRL),
    number_format = "sprintf('%.17g'); non-finite as strings 'Inf', '-Inf', 'NaN'; NA as null",
    generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")
  )
}

# ---------------------------------------------------------------- run
run_case <- function(case) {
  loaded <- load_data(case$data)
  d <- loaded$data
  if (!is.null(case$transform)) d <- case$transform(d)
  m <- lmerTest::lmer(as.formula(case$formula), data = d, REML = case$reml, control = ctrl)
  factors <- names(d)[vapply(d, is.factor, TRUE)]
  levels <- lapply(setNames(factors, factors), function(f) I(levels(d[[f]])))
  used_factors <- intersect(factors, all.vars(formula(m)))
  res <- list(
    source = versions(),
    case = case$id,
    dataset = list(name = case$data, origin = loaded$origin, file = loaded$file),
    formula = case$formula,
    reml = case$reml,
    aliased = I(as.character(names(attr(getME(m, "X"), "col.dropped")))),
    factor_levels = levels[used_factors],
    data = d,
    optimizer_check = check_optimum(m, case$formula, d, case$reml),
    optimizer_messages = I(as.character(unlist(m@optinfo$conv$lme4$messages))),
    fit = fit_block(m),
    fixef = fixef_tables(m),
    anova = anova_tables(m),
    emmeans = lapply(setNames(case$emmeans, case$emmeans), function(s) emm_tables(m, s)),
    variance_components = varcorr_tables(m),
    ranef = ranef_table(m),
    predict = predict_block(m, d),
    confint = confint_block(m, profile = !isFALSE(case$profile), reason = case$profile_reason),
    lrt = if (is.null(case$lrt)) NULL else lrt_block(case$lrt, d)
  )
  if (length(case$emmeans) == 0) res$emmeans <- setNames(list(), character(0))
  path <- file.path(out_dir, paste0(case$id, ".json"))
  write_json_file(res, path)
  message(sprintf("%-26s written (optimiser check %.2g, singular %s)", case$id,
                  res$optimizer_check$max_rel_diff, res$fit$is_singular))
}

args <- commandArgs(trailingOnly = TRUE)
for (case in CASES) {
  if (length(args) == 0 || case$id %in% args) run_case(case)
}
