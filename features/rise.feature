Feature: Phoenix Rise well-being nudges

  Scenario: Three stressful journal entries within a week bring a meditation nudge
    Given Alice wrote a journal entry with stress level 8, 6 days ago
    And Alice wrote a journal entry with stress level 7, 3 days ago
    And Alice wrote a journal entry with stress level 9, 0 days ago
    When the flywheel processes the queue
    Then Alice has the nudge "stress_relief" waiting in Phoenix Rise
    And Phoenix Rise shows Alice the nudge "stress_relief" in one of its wordings

  Scenario: Calm entries do not count toward stress
    Given Alice wrote a journal entry with stress level 8, 2 days ago
    And Alice wrote a journal entry with stress level 3, 1 days ago
    And Alice wrote a journal entry with stress level 9, 0 days ago
    When the flywheel processes the queue
    Then Alice has no nudge "stress_relief"

  Scenario: Stress spread over more than a week does not nudge
    Given Alice wrote a journal entry with stress level 8, 12 days ago
    And Alice wrote a journal entry with stress level 9, 8 days ago
    And Alice wrote a journal entry with stress level 9, 0 days ago
    When the flywheel processes the queue
    Then Alice has no nudge "stress_relief"

  Scenario: The window moves on: old stress falls out of it
    Given Alice wrote a journal entry with stress level 8, 9 days ago
    And Alice wrote a journal entry with stress level 8, 5 days ago
    And Alice wrote a journal entry with stress level 8, 1 days ago
    When the flywheel processes the queue
    Then Alice has no nudge "stress_relief"
    When Alice writes a journal entry with stress level 7, 0 days ago
    And the flywheel processes the queue
    Then Alice has the nudge "stress_relief" waiting in Phoenix Rise

  Scenario: A meditation since the first stressful entry keeps the nudge away
    Given Alice wrote a journal entry with stress level 8, 5 days ago
    And Alice meditated 4 days ago
    And Alice wrote a journal entry with stress level 8, 2 days ago
    And Alice wrote a journal entry with stress level 9, 0 days ago
    When the flywheel processes the queue
    Then Alice has no nudge "stress_relief"

  Scenario: The stress nudge converts on a meditation, not on other Rise activity
    Given Alice wrote a journal entry with stress level 8, 2 days ago
    And Alice wrote a journal entry with stress level 8, 1 days ago
    And Alice wrote a journal entry with stress level 9, 0 days ago
    And the flywheel processes the queue
    And Phoenix Rise shows Alice the stress nudge
    When Alice has a coaching session
    And the flywheel processes the queue
    Then the ecosystem counts 1 nudge detected and 0 converted
    When Alice meditates
    And the flywheel processes the queue
    Then the ecosystem counts 1 nudge detected and 1 converted

  Scenario: A burst of cover letters from someone who never used Rise
    Given Bob generated 5 cover letters over the last 4 days
    When the flywheel processes the queue
    Then Bob has the nudge "letters_to_rise" waiting in Phoenix Letters

  Scenario: Letters spread over a month do not suggest Rise
    Given Bob generated a cover letter every 3 days, 5 times
    When the flywheel processes the queue
    Then Bob has no nudge "letters_to_rise"

  Scenario: Someone who already uses Rise is not nudged toward it
    Given Bob meditated 20 days ago
    And Bob generated 5 cover letters over the last 4 days
    When the flywheel processes the queue
    Then Bob has no nudge "letters_to_rise"

  Scenario: The letters nudge converts on any Rise activity
    Given Bob generated 5 cover letters over the last 4 days
    And the flywheel processes the queue
    When Bob has a coaching session
    And the flywheel processes the queue
    Then Bob's nudge "letters_to_rise" is converted
