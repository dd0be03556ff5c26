"""The papers behind the methods a run used, cited author-year in the methods paragraph
and listed in full after it.

The paragraph cites with :func:`cite`; :func:`references_in` lists exactly the works whose
citation appears in a text, so the list can never name a method the text does not.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REFERENCES", "Reference", "cite", "references_in"]


@dataclass(frozen=True)
class Reference:
    citation: str  # as in the running text: "Bates et al. 2015"
    entry: str  # as in the reference list


REFERENCES = {
    "lme4": Reference(
        "Bates et al. 2015",
        "Bates D, Mächler M, Bolker B, Walker S. Fitting linear mixed-effects models using "
        "lme4. J Stat Softw. 2015;67(1):1-48.",
    ),
    "lmertest": Reference(
        "Kuznetsova et al. 2017",
        "Kuznetsova A, Brockhoff PB, Christensen RHB. lmerTest package: tests in linear mixed "
        "effects models. J Stat Softw. 2017;82(13):1-26.",
    ),
    "satterthwaite": Reference(
        "Satterthwaite 1946",
        "Satterthwaite FE. An approximate distribution of estimates of variance components. "
        "Biometrics Bulletin. 1946;2(6):110-114.",
    ),
    "kenward_roger": Reference(
        "Kenward and Roger 1997",
        "Kenward MG, Roger JH. Small sample inference for fixed effects from restricted "
        "maximum likelihood. Biometrics. 1997;53(3):983-997.",
    ),
    "marginal_means": Reference(
        "Searle et al. 1980",
        "Searle SR, Speed FM, Milliken GA. Population marginal means in the linear model: an "
        "alternative to least squares means. Am Stat. 1980;34(4):216-221.",
    ),
    "holm": Reference(
        "Holm 1979",
        "Holm S. A simple sequentially rejective multiple test procedure. Scand J Stat. "
        "1979;6(2):65-70.",
    ),
    "benjamini_hochberg": Reference(
        "Benjamini and Hochberg 1995",
        "Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical and "
        "powerful approach to multiple testing. J R Stat Soc Series B. 1995;57(1):289-300.",
    ),
    "binomial_normal": Reference(
        "Stijnen et al. 2010",
        "Stijnen T, Hamza TH, Özdemir P. Random effects meta-analysis of event outcome in the "
        "framework of the generalized linear mixed model with applications in sparse data. "
        "Stat Med. 2010;29(29):3046-3067.",
    ),
    "dersimonian_laird": Reference(
        "DerSimonian and Laird 1986",
        "DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials. "
        "1986;7(3):177-188.",
    ),
    "paule_mandel": Reference(
        "Paule and Mandel 1982",
        "Paule RC, Mandel J. Consensus values and weighting factors. J Res Natl Bur Stand. "
        "1982;87(5):377-385.",
    ),
    "tau2_likelihood": Reference(
        "Viechtbauer 2005",
        "Viechtbauer W. Bias and efficiency of meta-analytic variance estimators in the "
        "random-effects model. J Educ Behav Stat. 2005;30(3):261-293.",
    ),
    "knapp_hartung": Reference(
        "Knapp and Hartung 2003",
        "Knapp G, Hartung J. Improved tests for a random effects meta-regression with a "
        "single covariate. Stat Med. 2003;22(17):2693-2710.",
    ),
    "i2": Reference(
        "Higgins and Thompson 2002",
        "Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. Stat Med. "
        "2002;21(11):1539-1558.",
    ),
    "prediction_interval": Reference(
        "Riley et al. 2011",
        "Riley RD, Higgins JPT, Deeks JJ. Interpretation of random effects meta-analyses. "
        "BMJ. 2011;342:d549.",
    ),
    "egger": Reference(
        "Egger et al. 1997",
        "Egger M, Davey Smith G, Schneider M, Minder C. Bias in meta-analysis detected by a "
        "simple, graphical test. BMJ. 1997;315(7109):629-634.",
    ),
    "contour_funnel": Reference(
        "Peters et al. 2008",
        "Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L. Contour-enhanced meta-analysis "
        "funnel plots help distinguish publication bias from other causes of asymmetry. "
        "J Clin Epidemiol. 2008;61(10):991-996.",
    ),
    "grade": Reference(
        "Guyatt et al. 2008",
        "Guyatt GH, Oxman AD, Vist GE, Kunz R, Falck-Ytter Y, Alonso-Coello P, Schünemann HJ. "
        "GRADE: an emerging consensus on rating quality of evidence and strength of "
        "recommendations. BMJ. 2008;336(7650):924-926.",
    ),
    "jbi_case_series": Reference(
        "Munn et al. 2020",
        "Munn Z, Barker TH, Moola S, Tufanaru C, Stern C, McArthur A, Stephenson M, "
        "Aromataris E. Methodological quality of case series studies: an introduction to the "
        "JBI critical appraisal tool. JBI Evid Synth. 2020;18(10):2127-2133.",
    ),
    "prisma": Reference(
        "Page et al. 2021",
        "Page MJ, McKenzie JE, Bossuyt PM, Boutron I, Hoffmann TC, Mulrow CD, et al. The "
        "PRISMA 2020 statement: an updated guideline for reporting systematic reviews. BMJ. "
        "2021;372:n71.",
    ),
    "kappa": Reference(
        "Cohen 1960",
        "Cohen J. A coefficient of agreement for nominal scales. Educ Psychol Meas. "
        "1960;20(1):37-46.",
    ),
    "kappa_se": Reference(
        "Fleiss et al. 1969",
        "Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa and weighted "
        "kappa. Psychol Bull. 1969;72(5):323-327.",
    ),
    "ac1": Reference(
        "Gwet 2008",
        "Gwet KL. Computing inter-rater reliability and its variance in the presence of high "
        "agreement. Br J Math Stat Psychol. 2008;61(1):29-48.",
    ),
    "asysd": Reference(
        "Hair et al. 2023",
        "Hair K, Bahor Z, Macleod M, Liao J, Sena ES. The Automated Systematic Search "
        "Deduplicator (ASySD): a rapid, open-source, interoperable tool to remove duplicate "
        "citations in biomedical systematic reviews. BMC Biol. 2023;21(1):189.",
    ),
    "numpy": Reference(
        "Harris et al. 2020",
        "Harris CR, Millman KJ, van der Walt SJ, et al. Array programming with NumPy. Nature. "
        "2020;585(7825):357-362.",
    ),
    "scipy": Reference(
        "Virtanen et al. 2020",
        "Virtanen P, Gommers R, Oliphant TE, et al. SciPy 1.0: fundamental algorithms for "
        "scientific computing in Python. Nat Methods. 2020;17(3):261-272.",
    ),
    "pandas": Reference(
        "McKinney 2010",
        "McKinney W. Data structures for statistical computing in Python. In: Proceedings of "
        "the 9th Python in Science Conference. 2010:56-61.",
    ),
}


def cite(*keys: str) -> str:
    """``" (Bates et al. 2015; Kuznetsova et al. 2017)"``, with its leading space."""
    return " (" + "; ".join(REFERENCES[key].citation for key in keys) + ")"


def references_in(*texts: str) -> list[str]:
    """The full entries of the works cited in ``texts``, in alphabetical order."""
    text = " ".join(texts)
    return sorted(ref.entry for ref in REFERENCES.values() if ref.citation in text)
