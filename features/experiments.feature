Feature: Experiments on nudge messages
  Each nudge has several wordings. A product owner learns which wording makes users act,
  counting a conversion only when the user saw the nudge before acting, and soon enough.

  Scenario: A user always gets the same wording, even when their history is replayed
    Given 40 users who each generated a cover letter
    And the flywheel processes the queue
    When all their events are processed again
    Then each user is shown the wording the A/B split gives them
    And both wordings of "letters_to_cv" are shown to some users

  Scenario: A nudge shown twice is seen once
    Given Alice generated a cover letter for "Airbus"
    And the flywheel processes the queue
    When Phoenix Letters shows Alice her nudge
    And Phoenix Letters shows Alice the same nudge again
    Then the "letters_to_cv" experiment counts 1 user who saw the nudge and 0 who acted on it
    And the ecosystem counts 1 nudge seen, 0 converted and 0 organic

  Scenario: Acting after seeing the nudge is a conversion for the wording shown
    Given Alice generated a cover letter for "Airbus"
    And the flywheel processes the queue
    And Phoenix Letters shows Alice her nudge
    When Alice uploads her CV
    And the flywheel processes the queue
    Then the "letters_to_cv" experiment counts 1 user who saw the nudge and 1 who acted on it
    And Alice's conversion is counted for the wording she was shown
    And the ecosystem counts 1 nudge seen, 1 converted and 0 organic

  Scenario: Using the other app without having seen the nudge is organic
    Given Alice generated a cover letter for "Airbus"
    And the flywheel processes the queue
    When Alice uploads her CV
    And the flywheel processes the queue
    Then the "letters_to_cv" experiment counts 0 users who saw the nudge and 0 who acted on it
    And the ecosystem counts 0 nudges seen, 0 converted and 1 organic

  Scenario: Acting after the attribution window is organic
    Given conversions count for 7 days after the nudge is seen
    And Alice generated a cover letter for "Airbus"
    And the flywheel processes the queue
    And Phoenix Letters shows Alice her nudge
    When Alice uploads her CV 8 days later
    And the flywheel processes the queue
    Then the ecosystem counts 1 nudge seen, 0 converted and 1 organic

  Scenario: Showing the nudge again after the user acted changes nothing
    Given Alice generated a cover letter for "Airbus"
    And the flywheel processes the queue
    And Phoenix Letters shows Alice her nudge
    And Alice uploads her CV
    And the flywheel processes the queue
    When Phoenix Letters shows Alice the same nudge again
    Then the ecosystem counts 1 nudge seen, 1 converted and 0 organic

  Scenario: At most one nudge a day in an app, whatever its type
    Given the calendar starts today
    And Phoenix Letters has a second nudge for letter writers
    And Alice generated a cover letter for "Airbus"
    And the flywheel processes the queue
    When Phoenix Letters shows Alice her first nudge
    Then Phoenix Letters shows Alice no nudge
    And the next day Phoenix Letters shows Alice 1 nudge

  Scenario: A bandit sends more and more users to the wording that converts
    Given the "letters_to_cv" experiment is a bandit keeping at least 5 % of users on each wording
    And users act on wording "difference" 40 % of the time and on "chances" 5 % of the time
    When 300 letter writers arrive in groups of 20, each shown the nudge
    Then wording "difference" was given to more than 70 % of the last 100 of them
