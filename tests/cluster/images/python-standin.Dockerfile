# TEST-ONLY stand-in for the seed flows' `python:3.11-alpine` (nothing can be pulled in the tests):
# Debian bookworm's Python 3.11 with a POSIX sh, tagged with that name. It is not Alpine.
FROM kflow.local/debian-python:bookworm
RUN ln -s /usr/bin/python3 /usr/local/bin/python
CMD ["python3"]
