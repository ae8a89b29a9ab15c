       IDENTIFICATION DIVISION.
       PROGRAM-ID. MAIN.
       DATA DIVISION.
       WORKING-STORAGE SECTION.
       01 NAME      PIC X(256) VALUE SPACES.
       01 ARG       PIC X(256) VALUE SPACES.
       01 ARG-COUNT PIC 9(4) VALUE 0.
       01 I         PIC 9(4) VALUE 0.
       PROCEDURE DIVISION.
           ACCEPT NAME
           DISPLAY "Hello, " FUNCTION TRIM(NAME) "!"
           ACCEPT ARG-COUNT FROM ARGUMENT-NUMBER
           IF ARG-COUNT > 0
               PERFORM VARYING I FROM 1 BY 1 UNTIL I > ARG-COUNT
                   ACCEPT ARG FROM ARGUMENT-VALUE
                   DISPLAY "arg: " FUNCTION TRIM(ARG)
               END-PERFORM
               DISPLAY "Grüße, 世界 ✓"
               MOVE 3 TO RETURN-CODE
           END-IF
           STOP RUN.
