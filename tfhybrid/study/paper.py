"""The paper's numbers (Rong et al., ICCV 2019, UP-3D test, mm) and its findings, for the report."""

# Table 3: {input: {supervision: (PVE, MPJPE, PVE-T)}}
TABLE3 = {
    "iuv": {"3d_dense_2d": (120.0, 103.1, 31.8), "20pct3d_dense_2d": (125.0, 107.2, 32.6),
            "3d_2d": (125.2, 106.4, 32.1), "dense_2d": (138.7, 121.2, 54.7), "2d": (204.3, 177.0, 92.1)},
    "seg": {"3d_dense_2d": (123.0, 105.1, 32.7), "20pct3d_dense_2d": (126.7, 110.0, 33.2),
            "3d_2d": (124.8, 107.8, 31.7), "dense_2d": (147.4, 130.1, 55.9), "2d": (203.8, 176.7, 93.3)},
    "image": {"3d_dense_2d": (123.7, 105.9, 30.9), "20pct3d_dense_2d": (127.5, 110.6, 32.2),
              "3d_2d": (127.4, 108.5, 30.7), "dense_2d": (137.7, 120.3, 51.7), "2d": (203.2, 178.5, 106.2)},
    "image+iuv": {"3d_dense_2d": (122.4, 105.1, 30.2), "20pct3d_dense_2d": (125.0, 107.6, 32.1),
                  "3d_2d": (125.5, 107.3, 30.7), "dense_2d": (133.8, 117.2, 52.5), "2d": (197.3, 172.8, 107.9)},
    "image+seg": {"3d_dense_2d": (121.5, 104.3, 31.0), "20pct3d_dense_2d": (126.4, 107.0, 31.6),
                  "3d_2d": (125.8, 106.8, 31.5), "dense_2d": (142.2, 124.2, 56.6), "2d": (201.2, 177.5, 101.7)},
}

# Table 4: {other supervision: {3D loss terms: (PVE, MPJPE, PVE-T)}}
TABLE4 = {"dense_2d": {"pose": (131.3, 116.6, 59.0), "shape": (148.5, 127.3, 30.6)},
          "2d": {"pose": (164.0, 148.2, 117.0), "shape": (220.0, 180.6, 31.4)}}

NUMBERS = {"table3": TABLE3, "table4": TABLE4}

# The figures are reported as curves without printed values; their findings in words.
FINDINGS = {
    "fig4": "Dropping 80% of the paired 3D raises PVE by only about 5-6%; with no paired 3D the error is 34% "
            "larger than with 1%.",
    "fig5": "Performance degrades gracefully below sigma 10; even at sigma 40 the noisy dense keypoints still "
            "help considerably over 2D alone.",
    "fig6": "Graceful while more than 60% of the dense points are kept; 10-15 points per person are still far "
            "better than sparse 2D alone.",
    "refine": "Raw (unrefined) IUV maps instead of refined ones cost 20.1% PVE.",
}


# The paper's claims as contrasts between two cells, decided by `report.verdict` under the rule of
# docs/results.md. kind: "lower" (A's metric below B's), "at_most" (A at most `margin` above B,
# relative), "about" (A within `margin` of B either way). `paper` is the paper's relative change of
# A against B (from its tables, or as its text states it).
CLAIMS = (
    dict(claim="dense + 2D beats 2D only (image input)", kind="lower",
         a=("table3", "image", "dense_2d"), b=("table3", "image", "2d"), paper="-32.2%"),
    dict(claim="3D + 2D beats dense + 2D (image input)", kind="lower",
         a=("table3", "image", "3d_2d"), b=("table3", "image", "dense_2d"), paper="-7.5%"),
    dict(claim="20% 3D + dense + 2D matches 3D + 2D within 5% (image input)", kind="about", margin=0.05,
         a=("table3", "image", "20pct3d_dense_2d"), b=("table3", "image", "3d_2d"), paper="+0.1%"),
    dict(claim="adding dense to 3D + 2D helps (image input)", kind="lower",
         a=("table3", "image", "3d_dense_2d"), b=("table3", "image", "3d_2d"), paper="-2.9%"),
    dict(claim="dense + 2D beats 2D only (IUV input)", kind="lower",
         a=("table3", "iuv", "dense_2d"), b=("table3", "iuv", "2d"), paper="-32.1%"),
    dict(claim="20% 3D + dense + 2D matches 3D + 2D within 5% (IUV input)", kind="about", margin=0.05,
         a=("table3", "iuv", "20pct3d_dense_2d"), b=("table3", "iuv", "3d_2d"), paper="-0.2%"),
    dict(claim="with 2D only, an IUV input instead of the image changes PVE by at most 5%", kind="about",
         margin=0.05, a=("table3", "iuv", "2d"), b=("table3", "image", "2d"), paper="+0.5%"),
    dict(claim="Table 4, dense + 2D: 3D loss on the pose beats the shape in PVE", kind="lower",
         a=("table4", "dense_2d", "pose"), b=("table4", "dense_2d", "shape"), paper="-11.6%"),
    dict(claim="Table 4, dense + 2D: 3D loss on the shape beats the pose in PVE-T", kind="lower", metric="PVE-T",
         a=("table4", "dense_2d", "shape"), b=("table4", "dense_2d", "pose"), paper="-48.1%"),
    dict(claim="Table 4, 2D only: 3D loss on the pose beats the shape in PVE", kind="lower",
         a=("table4", "2d", "pose"), b=("table4", "2d", "shape"), paper="-25.5%"),
    dict(claim="Fig. 4: 20% of the paired 3D costs at most 10% over 100%", kind="at_most", margin=0.10,
         a=("fig4", "image", "20"), b=("fig4", "image", "100"), paper="about +5-6%"),
    dict(claim="Fig. 4: 1% of the paired 3D beats none", kind="lower",
         a=("fig4", "image", "1"), b=("fig4", "image", "0"), paper="-25% (0% is 34% worse)"),
    dict(claim="Fig. 5: U/V noise sigma 10 costs at most 5% over none", kind="at_most", margin=0.05,
         a=("fig5", "image", "10"), b=("fig5", "image", "0"), paper="graceful below sigma 10"),
    dict(claim="Fig. 5: dense points at sigma 40 still beat 2D only", kind="lower",
         a=("fig5", "image", "40"), b=("table3", "image", "2d"), paper="helps considerably"),
    dict(claim="Fig. 6: 60% of the dense points cost at most 5% over all", kind="at_most", margin=0.05,
         a=("fig6", "image", "60"), b=("fig6", "image", "100"), paper="graceful above 60%"),
    dict(claim="Fig. 6: 15 dense points per person beat 2D only", kind="lower",
         a=("fig6", "image", "15pp"), b=("table3", "image", "2d"), paper="far better"),
    dict(claim="refined IUV beats raw IUV (dense + 2D)", kind="lower",
         a=("refine", "image", "refined"), b=("refine", "image", "raw"), paper="-16.7% (raw costs 20.1%)"),
)