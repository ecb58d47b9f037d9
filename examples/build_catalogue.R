# Step 2: build the catalogue of known individuals from labelled photos (a folder per
# individual) and their MegaDetector boxes; the identification model is fitted on it.
#   Rscript examples/build_catalogue.R [FOLDER]
library(lynxid)
args <- commandArgs(trailingOnly = TRUE)
work <- if (length(args)) args[1] else Sys.getenv("LYNXID_EXAMPLE_DIR", "lynxid-example")

unlink(file.path(work, "catalogue"), recursive = TRUE)     # the example always starts afresh
cat <- build_catalogue(file.path(work, "catalogue"), file.path(work, "survey", "catalogue"),
                       megadetector = file.path(work, "survey", "catalogue_megadetector.json"))
cat
