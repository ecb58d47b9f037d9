library(testthat)
library(lynxid)

test_check("lynxid")
