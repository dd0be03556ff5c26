# Reference values for ipdmeta.mixed.glmm from lme4's glmer and emmeans.
#
# Run from the repository root:
#
#     Rscript tests/reference/glmer_reference.R          # every case
#     Rscript tests/reference/glmer_reference.R cbpp-laplace
#
# Writes one JSON file per case into tests/reference/glmm/: a "source" block (R and package
# versions, optimiser settings), the data the model was fitted to (published data copied
# with their citation, simulated data with their seed), and every number the agreement
# tests compare. Names are R's ("(Intercept)", "period2"); the tests map them.

suppressPackageStartupMessages({
  library(lme4)
  library(emmeans)
  library(metafor)
  library(jsonlite)
})
source(file.path("tests", "reference", "json_writer.R"))

out_dir <- file.path("tests", "reference", "glmm")
dir.create(out_dir, showWarnings = FALSE)

# glmer's defaults stop early (bobyqa's rhoend 2e-7, PIRLS tolerance 1e-7); these converge
# the estimator well past the tests' tolerance (rtol 1e-4 on estimates and SEs).
OPT_CTRL <- list(maxfun = 1e5, rhoend = 1e-12)
ctrl <- glmerControl(optimizer = c("bobyqa", "bobyqa"), optCtrl = OPT_CTRL,
                     tolPwrss = 1e-12, check.conv.singular = "ignore")
ADJUST <- c("none", "holm", "tukey")

# Factor levels sorted bytewise, as Python sorts strings.
as_factors <- function(d, factors) {
  for (f in factors) d[[f]] <- factor(as.character(d[[f]]),
                                      levels = sort(unique(as.character(d[[f]])), method = "radix"))
  d
}

# ---------------------------------------------------------------- data
cbpp_data <- function() {
  d <- lme4::cbpp
  data.frame(incidence = d$incidence, size = d$size, period = as.character(d$period),
             herd = as.character(d$herd))
}
CBPP_CITATION <- paste(
  "lme4::cbpp. Lesnoff M, Laval G, Bonnet P, Abdicador S, Workalemahu A, Kifle D,",
  "Peyraud A, Lancelot R, Thiaucourt F (2004). Within-herd spread of contagious bovine",
  "pleuropneumonia in Ethiopian highlands. Preventive Veterinary Medicine 64, 27-40."
)

# Simulated responders: 23 studies of 2 to 12 patients, as the example review; the log
# odds of at least 50 % relief depend on diagnosis and age, with a study effect.
responders_data <- function(seed, sd_study) {
  set.seed(seed)
  n_per <- sample(2:12, 23, replace = TRUE)
  study <- rep(sprintf("S%02d", 1:23), n_per)
  n <- length(study)
  diagnosis <- sample(c("DPS", "PHN", "TN", "TNP"), n, replace = TRUE, prob = c(.4, .2, .2, .2))
  age <- round(rnorm(n, 58, 11))
  effect <- c(DPS = -0.6, PHN = 0, TN = 1.2, TNP = 0.3)[diagnosis]
  study_effect <- rnorm(23, 0, sd_study)[as.integer(factor(study))]
  eta <- 0.4 + effect - 0.02 * (age - 58) + study_effect
  data.frame(responder = rbinom(n, 1, plogis(eta)), diagnosis = diagnosis, age = age,
             study_id = study)
}

# Simulated counts with exposure: 30 sites, events over follow-up years.
counts_data <- function(seed) {
  set.seed(seed)
  n_per <- sample(3:10, 30, replace = TRUE)
  site <- rep(sprintf("site%02d", 1:30), n_per)
  n <- length(site)
  treated <- rbinom(n, 1, 0.5)
  years <- round(runif(n, 0.5, 4), 2)
  eta <- log(years) - 0.5 + 0.4 * treated + rnorm(30, 0, 0.5)[as.integer(factor(site))]
  data.frame(events = rpois(n, exp(eta)), treated = treated, years = years, site = site)
}

CASES <- list(
  list(id = "cbpp-laplace", profile = TRUE, data = "cbpp", nagq = 1, family = "binomial",
       formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
       reduced = "cbind(incidence, size - incidence) ~ 1 + (1 | herd)", factor = "period"),
  list(id = "cbpp-agq9", profile = TRUE, data = "cbpp", nagq = 9, family = "binomial",
       formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
       reduced = "cbind(incidence, size - incidence) ~ 1 + (1 | herd)", factor = "period"),
  list(id = "responders-laplace", data = "responders", seed = 2026, sd_study = 0.9,
       nagq = 1, family = "binomial", formula = "responder ~ diagnosis + age + (1 | study_id)",
       reduced = "responder ~ age + (1 | study_id)", factor = "diagnosis"),
  list(id = "responders-agq7", data = "responders", seed = 2026, sd_study = 0.9,
       nagq = 7, family = "binomial", formula = "responder ~ diagnosis + age + (1 | study_id)",
       reduced = "responder ~ age + (1 | study_id)", factor = "diagnosis"),
  # Functions of a covariate in the fixed part, as in the lmer cases.
  list(id = "responders-transforms", data = "responders", seed = 2026, sd_study = 0.9,
       nagq = 1, family = "binomial",
       formula = "responder ~ diagnosis + poly(age, 2) + (1 | study_id)",
       reduced = "responder ~ poly(age, 2) + (1 | study_id)", factor = "diagnosis"),
  list(id = "counts-offset", profile = TRUE, data = "counts", seed = 11, nagq = 1, family = "poisson",
       formula = "events ~ treated + offset(log(years)) + (1 | site)",
       reduced = "events ~ 1 + offset(log(years)) + (1 | site)", factor = NULL)
)

load_case_data <- function(case) {
  if (case$data == "cbpp") {
    return(list(data = as_factors(cbpp_data(), c("period", "herd")),
                origin = CBPP_CITATION))
  }
  if (case$data == "responders") {
    d <- responders_data(case$seed, case$sd_study)
    return(list(data = as_factors(d, c("diagnosis", "study_id")),
                origin = sprintf("simulated in this script, set.seed(%d)", case$seed)))
  }
  d <- counts_data(case$seed)
  list(data = as_factors(d, "site"),
       origin = sprintf("simulated in this script, set.seed(%d)", case$seed))
}

# ---------------------------------------------------------------- numbers
fit_block <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  list(
    theta = I(unname(getME(m, "theta"))),
    variance = vc$vcov[1], sd = vc$sdcor[1],
    loglik = as.numeric(logLik(m)), deviance = -2 * as.numeric(logLik(m)),
    aic = AIC(m), bic = BIC(m), df_resid = df.residual(m),
    npar = attr(logLik(m), "df"), nobs = nobs(m),
    is_singular = isSingular(m)
  )
}

fixef_block <- function(m) {
  s <- summary(m)$coefficients
  w <- confint(m, method = "Wald", parm = "beta_")
  data.frame(term = rownames(s), estimate = s[, 1], se = s[, 2], z = s[, 3],
             pvalue = s[, 4], ci_lower = w[, 1], ci_upper = w[, 2])
}

ranef_block <- function(m) {
  r <- ranef(m, condVar = TRUE)[[1]]
  data.frame(level = rownames(r), estimate = r[, 1],
             se = sqrt(attr(r, "postVar")[1, 1, ]))
}

emmeans_blocks <- function(m, factor) {
  if (is.null(factor)) return(NULL)
  emm <- emmeans(m, factor, type = "response")
  e <- as.data.frame(summary(emm))
  link <- as.data.frame(summary(emmeans(m, factor)))
  pairs <- lapply(setNames(ADJUST, ADJUST), function(a) {
    p <- as.data.frame(summary(pairs(emm, adjust = a)))
    data.frame(contrast = as.character(p$contrast), odds_ratio = p$odds.ratio, se = p$SE,
               z = p$z.ratio, pvalue = p$p.value)
  })
  list(
    emmeans = data.frame(level = as.character(e[[factor]]), prob = e$prob, se = e$SE,
                         ci_lower = e$asymp.LCL, ci_upper = e$asymp.UCL,
                         emmean_link = link$emmean, se_link = link$SE),
    pairwise = pairs
  )
}

versions <- function() {
  pv <- function(p) as.character(packageVersion(p))
  list(
    R = R.version.string, lme4 = pv("lme4"), emmeans = pv("emmeans"),
    Matrix = pv("Matrix"), minqa = pv("minqa"), jsonlite = pv("jsonlite"),
    script = "tests/reference/glmer_reference.R",
    control = list(optimizer = "bobyqa (both stages)", optCtrl = OPT_CTRL, tolPwrss = 1e-12),
    vcov = "vcov(m): the inverse of half the finite-difference Hessian of the deviance in (theta, beta)",
    generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")
  )
}

# Profile intervals: a spline through the profile; a grid finer than the default (delta
# one eightieth of the 99.9 % quantile) so that the interpolation error is far below the
# tests' tolerance, as tests/reference/lme4_reference.R does for lmer.
profile_block <- function(m) {
  ci <- tryCatch(confint(profile(m, signames = FALSE, delta = qnorm(0.9995) / 80)),
                 error = function(e) conditionMessage(e))
  if (is.character(ci)) return(list(error = ci))
  data.frame(term = rownames(ci), ci_lower = ci[, 1], ci_upper = ci[, 2])
}

# The likelihood-ratio test of each fixed effect being 0: the model refitted without that
# column of X (the test the profile interval inverts).
drop_one_lrt <- function(m, case, d, fam) {
  X <- getME(m, "X")
  response <- trimws(sub("~.*", "", case$formula))
  group <- sub(".*\\(1 \\| ([A-Za-z_]+)\\).*", "\\1", case$formula)
  offset <- if (grepl("offset", case$formula)) " + offset(log(years))" else ""
  rows <- lapply(seq_len(ncol(X))[-1], function(j) {
    dd <- d
    dd$Xj <- X[, -j, drop = FALSE]
    f <- as.formula(paste(response, "~ 0 + Xj", offset, "+ (1 |", group, ")"))
    m0 <- glmer(f, data = dd, family = fam, nAGQ = case$nagq, control = ctrl)
    chisq <- max(0, -2 * (as.numeric(logLik(m0)) - as.numeric(logLik(m))))
    data.frame(term = colnames(X)[j], chisq = chisq,
               pvalue = pchisq(chisq, 1, lower.tail = FALSE))
  })
  do.call(rbind, rows)
}

run_case <- function(case) {
  loaded <- load_case_data(case)
  d <- loaded$data
  fam <- if (case$family == "binomial") binomial() else poisson()
  m <- glmer(as.formula(case$formula), data = d, family = fam, nAGQ = case$nagq,
             control = ctrl)
  m0 <- glmer(as.formula(case$reduced), data = d, family = fam, nAGQ = case$nagq,
              control = ctrl)
  lrt <- anova(m0, m)
  emm <- emmeans_blocks(m, case$factor)
  res <- list(
    source = versions(),
    case = case$id,
    dataset = list(name = case$data, origin = loaded$origin),
    formula = case$formula,
    reduced_formula = case$reduced,
    family = case$family,
    nagq = case$nagq,
    data = d,
    optimizer_messages = I(as.character(unlist(m@optinfo$conv$lme4$messages))),
    fit = fit_block(m),
    fixef = fixef_block(m),
    vcov = unname(as.matrix(vcov(m))),
    ranef = ranef_block(m),
    fitted = I(unname(fitted(m))),
    residuals_deviance = I(unname(residuals(m, type = "deviance"))),
    residuals_pearson = I(unname(residuals(m, type = "pearson"))),
    residuals_response = I(unname(residuals(m, type = "response"))),
    drop_one_lrt = drop_one_lrt(m, case, d, fam),
    predict_link_fixed = I(unname(predict(m, re.form = NA, type = "link"))),
    # lme4's fine-grid profile of the six-parameter responder models takes R more than
    # ten minutes; their profile intervals are not references.
    profile = if (isTRUE(case$profile)) profile_block(m) else NULL,
    lrt = list(chisq = lrt$Chisq[2], df = lrt$Df[2], pvalue = lrt[["Pr(>Chisq)"]][2],
               loglik_reduced = as.numeric(logLik(m0))),
    emmeans = emm$emmeans,
    pairwise = emm$pairwise
  )
  write_json_file(res, file.path(out_dir, paste0(case$id, ".json")))
  cat("wrote", case$id, "\n")
}

# The pooled responder proportion of a review: the binomial-normal model, fitted by glmer
# on patient rows and by metafor's rma.glmm (measure "PLO") on per-study counts; both with
# 7 quadrature nodes (rma.glmm's default).
run_pooled <- function() {
  d <- as_factors(responders_data(2026, 0.9), c("diagnosis", "study_id"))
  m <- glmer(responder ~ 1 + (1 | study_id), data = d, family = binomial(), nAGQ = 7,
             control = ctrl)
  counts <- aggregate(responder ~ study_id, data = d, FUN = function(x) c(sum(x), length(x)))
  xi <- counts$responder[, 1]
  ni <- counts$responder[, 2]
  # rma.glmm hands glmerCtrl to lme4 (its top-level optimizer settings are its own).
  r <- rma.glmm(measure = "PLO", xi = xi, ni = ni, nAGQ = 7,
                control = list(glmerCtrl = list(optimizer = "bobyqa", optCtrl = OPT_CTRL,
                                                tolPwrss = 1e-12)))
  p <- predict(r)
  res <- list(
    source = c(versions(), metafor = as.character(packageVersion("metafor"))),
    case = "responders-pooled",
    dataset = list(name = "responders", origin = "simulated in this script, set.seed(2026)"),
    formula = "responder ~ 1 + (1 | study_id)",
    nagq = 7,
    data = d,
    glmer = list(estimate = unname(fixef(m)), se = unname(sqrt(diag(vcov(m)))),
                 theta = unname(getME(m, "theta"))),
    rma_glmm = list(b = unname(r$b[1, 1]), se = r$se, tau2 = r$tau2, ci_lb = p$ci.lb,
                    ci_ub = p$ci.ub, pi_lb = p$pi.lb, pi_ub = p$pi.ub, k = r$k)
  )
  write_json_file(res, file.path(out_dir, "responders-pooled.json"))
  cat("wrote responders-pooled\n")
}

args <- commandArgs(trailingOnly = TRUE)
for (case in CASES) {
  if (length(args) == 0 || case$id %in% args) run_case(case)
}
if (length(args) == 0 || "responders-pooled" %in% args) run_pooled()
