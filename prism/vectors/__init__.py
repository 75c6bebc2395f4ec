"""LanceDB vector tables for shots and transcript segments, and search over them."""
