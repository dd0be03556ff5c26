# Reference values for prior weights in ipdmeta.mixed.lmm (lmer's weights =).
#
# Run from the repository root:
#
#     Rscript tests/reference/weights_reference.R
#
# Writes tests/reference/weights/sleepstudy-weighted.json: lme4's sleepstudy with a weight
# per row made from the data (below), fitted by REML and by ML with correlated random
# slopes, and for each fit: the criterion, theta, sigma, the variance components, the
# fixed effects with lmerTest's Satterthwaite df and, for REML, Kenward-Roger.
#
# pbkrtest's Kenward-Roger ignores prior weights (its Sigma is sigma^2 I + Z G Z'), so it
# is taken from the equivalent unweighted model of the rows scaled by sqrt(w): y, the
# intercept, Days and the random-effect columns each multiplied by sqrt(w). That model has
# the same REML criterion up to the constant sum(log w), the same estimates and the same
# Var(beta); the script checks this before writing.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})
source(file.path("tests", "reference", "json_writer.R"))

OPT_CTRL <- list(maxfun = 1e5, rhoend = 1e-12)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = OPT_CTRL)

d <- data.frame(Reaction = lme4::sleepstudy$Reaction, Days = lme4::sleepstudy$Days,
                Subject = as.character(lme4::sleepstudy$Subject))
subject_number <- as.integer(factor(d$Subject, levels = sort(unique(d$Subject), method = "radix")))
d$w <- 0.5 + (subject_number %% 4) / 2 + d$Days / 10
d$Subject <- factor(d$Subject, levels = sort(unique(d$Subject), method = "radix"))
FORMULA <- Reaction ~ Days + (Days | Subject)

fixef_table <- function(m, ddf) {
  co <- summary(m, ddf = ddf)$coefficients
  data.frame(term = rownames(co), estimate = co[, 1], se = co[, 2], df = co[, 3],
             pvalue = co[, 5], stringsAsFactors = FALSE)
}

fit_block <- function(reml) {
  m <- lmerTest::lmer(FORMULA, data = d, REML = reml, weights = w, control = ctrl)
  vc <- as.data.frame(VarCorr(m))
  out <- list(
    reml = reml,
    loglik = as.numeric(logLik(m)),
    criterion = if (reml) unname(REMLcrit(m)) else deviance(m),
    theta = unname(getME(m, "theta")),
    sigma = sigma(m),
    variance_components = data.frame(group = vc$grp, name1 = vc$var1, name2 = vc$var2,
                                     vcov = vc$vcov, stringsAsFactors = FALSE),
    satterthwaite = fixef_table(m, "Satterthwaite")
  )
  if (reml) {
    # Kenward-Roger from the scaled, unweighted model (see the header).
    s <- sqrt(d$w)
    scaled <- data.frame(y = d$Reaction * s, one = s, days = d$Days * s, Subject = d$Subject)
    u <- lmerTest::lmer(y ~ 0 + one + days + (0 + one + days | Subject), data = scaled,
                        REML = TRUE, control = ctrl)
    gap <- REMLcrit(u) - sum(log(d$w)) - REMLcrit(m)
    if (abs(gap) > 1e-6 * abs(REMLcrit(m))) stop("the scaled model is not the weighted one")
    if (max(abs(fixef(u) - fixef(m))) > 1e-6 * max(abs(fixef(m)))) stop("estimates differ")
    kr <- fixef_table(u, "Kenward-Roger")
    kr$term <- rownames(summary(m)$coefficients)
    out$kenward_roger <- kr
    out$kenward_roger_scaled_check <- list(criterion_gap = gap)
  }
  out
}

reml <- fit_block(TRUE)
ml <- fit_block(FALSE)
m0 <- lmer(Reaction ~ 1 + (Days | Subject), data = d, REML = FALSE, weights = w, control = ctrl)
m1 <- lmer(FORMULA, data = d, REML = FALSE, weights = w, control = ctrl)
a <- anova(m0, m1)

out <- list(
  source = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                lmerTest = as.character(packageVersion("lmerTest")),
                pbkrtest = as.character(packageVersion("pbkrtest")),
                optimizer = "bobyqa, rhoend 1e-12"),
  dataset = paste("lme4::sleepstudy; w = 0.5 + (subject number mod 4) / 2 + Days / 10,",
                  "subjects numbered in sorted order"),
  formula = deparse(FORMULA),
  weights = "w",
  data = data.frame(Reaction = d$Reaction, Days = d$Days, Subject = as.character(d$Subject),
                    w = d$w, stringsAsFactors = FALSE),
  fits = list(reml = reml, ml = ml),
  lrt = list(null = "Reaction ~ 1 + (Days | Subject)", chisq = a$Chisq[2], df = a$Df[2],
             pvalue = a$`Pr(>Chisq)`[2])
)
writeLines(to_json(out), file.path("tests", "reference", "weights", "sleepstudy-weighted.json"))
message("sleepstudy-weighted written")
