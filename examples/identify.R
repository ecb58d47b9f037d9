# Step 3: identify every photo of the survey against the catalogue.
#   Rscript examples/identify.R [FOLDER]
library(lynxid)
args <- commandArgs(trailingOnly = TRUE)
work <- if (length(args)) args[1] else Sys.getenv("LYNXID_EXAMPLE_DIR", "lynxid-example")

det <- identify(file.path(work, "survey", "images"), file.path(work, "catalogue"),
                megadetector = file.path(work, "survey", "megadetector.json"),
                out = file.path(work, "results"))
det[, c("file", "timestamp", "individual_id", "probability", "p_new", "needs_review")]
attr(det, "issues")            # files that could not be used, and why
table(det$individual_id, det$is_new)
