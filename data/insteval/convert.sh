#!/usr/bin/env bash
# Writes data/insteval/ratings.tsv, the InstEval data of the R package lme4 in busker-eval's
# layout (tab-separated, header `user item weight`), from Debian's r-cran-lme4 package:
#   apt-get install --no-install-recommends r-cran-lme4     # 1.1-31-1 in Debian 12
#   bash data/insteval/convert.sh
# A student who rated several lectures of one lecturer gets one row whose weight is the sum of
# those ratings (as play counts add up); rows are sorted by student, then lecturer.
set -euo pipefail
cd "$(dirname "$0")"
Rscript --vanilla -e '
data(InstEval, package = "lme4")
x <- aggregate(y ~ s + d, data = InstEval, FUN = sum)
out <- data.frame(
  user = as.integer(as.character(x$s)),
  item = as.integer(as.character(x$d)),
  weight = as.integer(x$y)
)
out <- out[order(out$user, out$item), ]
write.table(out, "ratings.tsv", sep = "\t", quote = FALSE, row.names = FALSE)
cat(sprintf("%d rows, %d users, %d items, lme4 %s\n", nrow(out), length(unique(out$user)),
  length(unique(out$item)), as.character(packageVersion("lme4"))))
'
sha256sum ratings.tsv > SHA256SUMS
